/**
 * The alert state machine, pure: given the keys' prior states, the rows a
 * run's view yielded, the time and the mutes, which keys fire, repeat or
 * resolve now — each delivery numbered within its key's incident — and what
 * the store keeps afterwards.
 *
 * A key is `pending` (present, not yet for `pendingFor`), then `firing`;
 * when a successful run no longer yields it, it resolves and is forgotten but
 * for a tombstone holding its last incident number, so that a key that comes
 * back opens incident n + 1. Deliveries of an incident are numbered 1 (the
 * first firing), 2, … (repeats), and the resolution takes the next number:
 * the numbers come from the committed state only, so a run that is retried
 * after a crash computes the same ones, and the delivery journal skips what
 * was already delivered.
 *
 * @module
 */
import type { Row } from "../types.ts";

/** What the store keeps of a key that is pending or firing. */
export interface KeyState {
  /** The key: JSON of its values, integers by value (`alertKey` in `keys.ts`). */
  key: string;
  /** Where it stands. */
  state: "pending" | "firing";
  /** When this incident's first run saw it (ms). */
  since: number;
  /** When it started firing (ms), or null while pending. */
  firingSince: number | null;
  /** The key's incident number: 1 for its first, n + 1 after it resolved n times. */
  incident: number;
  /** Deliveries of this incident acknowledged (0: never delivered). */
  delivered: number;
  /** When the last delivery was acknowledged (ms), or null. */
  lastDeliveredAt: number | null;
  /** A hash of the row as last seen (`rowHashes` in `keys.ts`). */
  fingerprint: string;
}

/** How a job's alert behaves, in ms. */
export interface AlertSettings {
  /** A key fires once present this long (0: at once). */
  pendingForMs: number;
  /** Still-firing keys are delivered again at this interval. */
  repeatEveryMs?: number;
}

/** A key as one run's view yielded it. */
export interface Observed {
  /** The key (`alertKey` in `keys.ts`). */
  key: string;
  /** A hash of the row. */
  fingerprint: string;
  /** The row. */
  row: Row;
}

/** One delivery of a key: the rows it is made of are the key's. */
export interface Delivery {
  /** The key. */
  key: string;
  /** The key's incident number. */
  incident: number;
  /** The delivery's number within the incident (1: the first firing). */
  delivery: number;
  /** `new` (first firing), `repeat`, or `resolved`. */
  kind: "new" | "repeat" | "resolved";
  /** The row: as the view yields it now, or as last seen for `resolved` (filled in later). */
  row?: Row;
}

/** What one run does with its keys. */
export interface RunPlan {
  /** Deliveries of firing keys due now (first firing, repeats), not muted. */
  firing: Delivery[];
  /** Resolutions to send: keys gone that were delivered, not muted. */
  resolved: Delivery[];
  /** Keys gone that resolve without a notice (muted, or never delivered). */
  silent: Array<{ key: string; incident: number }>;
  /** Pending keys gone: they never fired (a tombstone keeps their incident number). */
  dropped: Array<{ key: string; incident: number }>;
  /** Present keys whose stored state changes (before any delivery is acknowledged). */
  changed: Map<string, { state: KeyState; row?: Row }>;
  /** The active states after this run if everything goes through (for the summary). */
  active: Map<string, KeyState>;
  /** Counts for templates and reports. */
  counts: {
    new: number;
    repeated: number;
    resolved: number;
    muted: number;
    pending: number;
    firing: number;
  };
}

/** What a run gives {@linkcode planRun}. */
export interface PlanInput {
  /** The job's pending and firing keys, by key. */
  prior: ReadonlyMap<string, KeyState>;
  /** Keys new to `prior` that resolved before: their last incident number. */
  tombstones: ReadonlyMap<string, number>;
  /** The keys the view yields now, one entry per key. */
  observed: readonly Observed[];
  /** The run's time (ms). */
  now: number;
  /** The job's alert settings. */
  settings: AlertSettings;
  /** Whether a key is muted now. */
  isMuted: (key: string) => boolean;
}

/**
 * Decides one run: what fires, repeats, resolves, and the states it leaves.
 * Pure: the caller delivers, then {@linkcode settleRun} says what to store.
 *
 * @param input Prior states, tombstones, the keys seen now, time, settings, mutes.
 * @returns The run's plan.
 */
export function planRun(input: PlanInput): RunPlan {
  const { prior, tombstones, observed, now, settings, isMuted } = input;
  const plan: RunPlan = {
    firing: [],
    resolved: [],
    silent: [],
    dropped: [],
    changed: new Map(),
    active: new Map(),
    counts: {
      new: 0,
      repeated: 0,
      resolved: 0,
      muted: 0,
      pending: 0,
      firing: 0,
    },
  };
  const seen = new Set<string>();
  for (const { key, fingerprint, row } of observed) {
    seen.add(key);
    const before = prior.get(key);
    // Unchanged states are shared with `prior`, not copied (100k keys).
    let state: KeyState = before ?? {
      key,
      state: "pending",
      since: now,
      firingSince: null,
      incident: (tombstones.get(key) ?? 0) + 1,
      delivered: 0,
      lastDeliveredAt: null,
      fingerprint,
    };
    let dirty = !before;
    const rowChanged = !before || before.fingerprint !== fingerprint;
    if (before && rowChanged) {
      state = { ...state, fingerprint };
      dirty = true;
    }
    if (
      state.state === "pending" && now - state.since >= settings.pendingForMs
    ) {
      state = { ...state, state: "firing", firingSince: now };
      dirty = true;
    }
    if (state.state === "firing") {
      plan.counts.firing++;
      const due = state.delivered === 0 ||
        (settings.repeatEveryMs !== undefined &&
          now - (state.lastDeliveredAt ?? state.since) >=
            settings.repeatEveryMs);
      if (due && isMuted(key)) {
        plan.counts.muted++;
      } else if (due) {
        const kind = state.delivered === 0 ? "new" : "repeat";
        plan.counts[kind === "new" ? "new" : "repeated"]++;
        plan.firing.push({
          key,
          incident: state.incident,
          delivery: state.delivered + 1,
          kind,
          row,
        });
      }
    } else plan.counts.pending++;
    plan.active.set(key, state);
    if (dirty) {
      plan.changed.set(key, rowChanged ? { state, row } : { state });
    }
  }
  for (const [key, state] of prior) {
    if (seen.has(key)) continue;
    if (state.state === "pending") {
      plan.dropped.push({ key, incident: state.incident });
    } else if (state.delivered > 0 && !isMuted(key)) {
      plan.counts.resolved++;
      plan.resolved.push({
        key,
        incident: state.incident,
        delivery: state.delivered + 1,
        kind: "resolved",
      });
    } else {
      if (state.delivered > 0) plan.counts.muted++;
      plan.silent.push({ key, incident: state.incident });
    }
  }
  return plan;
}

/** What became of a run's deliveries. */
export interface RunOutcome {
  /** The firing deliveries were acknowledged (their steps all went through). */
  firingAcknowledged: boolean;
  /** Resolutions (sent and silent) and dropped keys are to be recorded. */
  resolutionsApplied: boolean;
  /** The run's time (ms). */
  now: number;
}

/** What the store records after a run. */
export interface AlertCommit {
  /** States to write; `row` when the row changed (its last seen values). */
  upserts: Array<{ state: KeyState; row?: Row }>;
  /** Keys gone (resolved, or pending ones dropped): a tombstone with their incident number. */
  resolved: Array<{ key: string; incident: number }>;
  /** The job's summary for the next run's fast path, or null to drop it. */
  summary: AlertSummary | null;
  /** The run's time (ms): tombstones older than their retention are pruned. */
  now: number;
}

/** Enough of a job's alert state to see that a run has nothing to do. */
export interface AlertSummary {
  /** The digest of the rows of the run that wrote it (`rowHashes` in `keys.ts`). */
  digest: string;
  /** The settings it was computed with (pendingFor, repeatEvery). */
  settings: string;
  /** The earliest time a pending key fires or a repeat is due (ms), or null. */
  nextDueAt: number | null;
  /** Firing keys never delivered (muted, or their delivery failed). */
  owed: number;
  /** Keys firing. */
  firing: number;
  /** Keys pending. */
  pending: number;
}

/** The settings' text in a summary. */
export function settingsText(settings: AlertSettings): string {
  return `${settings.pendingForMs}/${settings.repeatEveryMs ?? "-"}`;
}

/**
 * What to store after a run, given what went through.
 *
 * @param plan The run's plan.
 * @param outcome Whether deliveries were acknowledged and resolutions apply.
 * @param digest The digest of the run's rows.
 * @param settings The job's settings.
 * @returns The commit: states, tombstones, deletions and the summary.
 */
export function settleRun(
  plan: RunPlan,
  outcome: RunOutcome,
  digest: string,
  settings: AlertSettings,
): AlertCommit {
  const upserts = new Map(plan.changed);
  if (outcome.firingAcknowledged) {
    for (const delivery of plan.firing) {
      const entry = upserts.get(delivery.key);
      const state: KeyState = {
        ...(entry?.state ?? plan.active.get(delivery.key)!),
        delivered: delivery.delivery,
        lastDeliveredAt: outcome.now,
      };
      plan.active.set(delivery.key, state);
      upserts.set(
        delivery.key,
        entry?.row ? { state, row: entry.row } : { state },
      );
    }
  }
  const commit: AlertCommit = {
    upserts: [...upserts.values()],
    resolved: [],
    summary: null,
    now: outcome.now,
  };
  if (!outcome.resolutionsApplied) return commit;
  commit.resolved = [
    ...plan.resolved.map(({ key, incident }) => ({ key, incident })),
    ...plan.silent,
    ...plan.dropped,
  ];
  commit.summary = summarize(plan.active.values(), digest, settings);
  return commit;
}

/** The summary of a job's active states. */
export function summarize(
  states: Iterable<KeyState>,
  digest: string,
  settings: AlertSettings,
): AlertSummary {
  let nextDueAt: number | null = null;
  let owed = 0;
  let firing = 0;
  let pending = 0;
  const due = (at: number) => {
    if (nextDueAt === null || at < nextDueAt) nextDueAt = at;
  };
  for (const state of states) {
    if (state.state === "pending") {
      pending++;
      due(state.since + settings.pendingForMs);
      continue;
    }
    firing++;
    if (state.delivered === 0) owed++;
    else if (settings.repeatEveryMs !== undefined) {
      due((state.lastDeliveredAt ?? state.since) + settings.repeatEveryMs);
    }
  }
  return {
    digest,
    settings: settingsText(settings),
    nextDueAt,
    owed,
    firing,
    pending,
  };
}

/**
 * Whether a run can skip reading the keys' states: its rows are those of the
 * run that wrote the summary, nothing is due, and nothing owed can be sent.
 */
export function nothingToDo(
  summary: AlertSummary | undefined,
  digest: string,
  settings: AlertSettings,
  now: number,
  jobMuted: boolean,
): boolean {
  return summary !== undefined &&
    summary.digest === digest &&
    summary.settings === settingsText(settings) &&
    (summary.nextDueAt === null || now < summary.nextDueAt) &&
    (summary.owed === 0 || jobMuted);
}

/** A mute of a job's alerts: all its keys, or some. */
export interface Mute {
  /** The mute's id. */
  id: string;
  /** The job. */
  jobName: string;
  /** When it ends (ms). */
  until: number;
  /** The keys it covers (`alertKey` texts), or null: every key. */
  keys: string[] | null;
  /** Why, as its author said. */
  reason: string | null;
  /** When it was made (ms). */
  createdAt: number;
}

/** A key test for the mutes in force at `now`. */
export function mutedAt(
  mutes: readonly Mute[],
  now: number,
): { all: boolean; has: (key: string) => boolean } {
  const active = mutes.filter((mute) => mute.until > now);
  const all = active.some((mute) => mute.keys === null);
  const keys = new Set(active.flatMap((mute) => mute.keys ?? []));
  return { all, has: (key) => all || keys.has(key) };
}

/** A time in ms as ISO 8601, or null. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
