/**
 * The watchdog process's main: every few milliseconds it reads, for each
 * sandbox process the host names, the CPU time of all its threads and its
 * anonymous resident memory from `/proc`, and reports them on stdout.
 *
 * These are facts the kernel keeps: an action can neither forge nor hide
 * them (nested Workers and helper threads count). The watchdog is a separate
 * process because Deno lets only a fully privileged process read `/proc`; it
 * runs only this code and reads only pids from the host. Linux only.
 *
 * Shipped as source text (see `host/entry.ts`), so it must be
 * self-contained.
 *
 * The host ends it with SIGKILL. When its stdin closes or its stdout breaks, the host is gone
 * (crashed, killed): it kills every process it still watches, which
 * may be frozen (SIGSTOP) and would otherwise never run again to notice.
 * It checks each one's start time first, so that a pid reused meanwhile is
 * left alone. It ignores SIGINT and SIGHUP, which a terminal sends to the
 * whole process group, so that it outlives the host to do this.
 *
 * Input lines: `+<pid>` (watch) and `-<pid>` (forget). Output: one line per
 * tick, the time it was taken (ms since the epoch, fractional) then
 * `<pid> <cpu ticks> <anon kB>` records, joined by `;`, with `<pid> -` for a
 * process that is gone.
 *
 * @module
 */

/**
 * Runs in the watchdog process until its stdin closes or its stdout breaks.
 *
 * @param intervalMs How often to sample.
 */
export async function watchdogMain(intervalMs: number): Promise<void> {
  // Each watched pid with its start time (field 22) when it was named.
  const watched = new Map<number, string | undefined>();
  const encoder = new TextEncoder();
  for (const signal of ["SIGINT", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => {});
  }
  const statFields = (pid: number): string[] => {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The name may hold spaces and parentheses: fields start after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  };
  const startTime = (pid: number): string | undefined => {
    try {
      return statFields(pid)[19];
    } catch {
      return undefined;
    }
  };
  const sample = (pid: number): string => {
    try {
      const fields = statFields(pid);
      if (fields[0] === "Z" || fields[0] === "X") return `${pid} -`;
      const ticks = Number(fields[11]) + Number(fields[12]);
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const anon = /RssAnon:\s+(\d+)/.exec(status)?.[1] ?? "0";
      return `${pid} ${ticks} ${anon}`;
    } catch {
      return `${pid} -`;
    }
  };
  // The host is gone: what it left (maybe frozen) is killed, then this ends.
  const hostGone = () => {
    clearInterval(timer);
    for (const [pid, started] of watched) {
      try {
        if (started === undefined || startTime(pid) !== started) continue;
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    Deno.exit(0);
  };
  const timer = setInterval(() => {
    if (watched.size === 0) return;
    const at = performance.timeOrigin + performance.now();
    const records = [at, ...[...watched.keys()].map(sample)].join(";");
    const bytes = encoder.encode(`${records}\n`);
    try {
      for (let offset = 0; offset < bytes.length;) {
        offset += Deno.stdout.writeSync(bytes.subarray(offset));
      }
    } catch {
      // Nobody reads the samples (a broken pipe): the host is gone.
      hostGone();
    }
  }, intervalMs);
  let pending = "";
  try {
    for await (
      const chunk of Deno.stdin.readable.pipeThrough(
        new TextDecoderStream(),
      )
    ) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const pid = Number(line.slice(1));
        if (!Number.isInteger(pid) || pid <= 0) continue;
        if (line[0] === "+") watched.set(pid, startTime(pid));
        else if (line[0] === "-") watched.delete(pid);
      }
    }
  } catch {
    // Its stdin broke: the host is gone too.
  } finally {
    hostGone();
  }
}
