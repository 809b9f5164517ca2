/**
 * The problems of one view or job definition, collected so that one error
 * reports them all, each with its path.
 *
 * @module
 */
import {
  type ErrorCode,
  isTriggerKitError,
  TriggerKitError,
  type ValidationProblem,
} from "../errors.ts";

/** A problem found in a definition, with what its error keeps. */
export interface Found extends ValidationProblem {
  cause?: unknown;
  issues?: readonly unknown[];
}

/** Collects the problems of one definition. */
export class Problems {
  readonly found: Found[] = [];

  add(
    code: ErrorCode,
    path: string,
    message: string,
    from?: TriggerKitError,
  ): void {
    const problem: Found = { path, code, message };
    if (from) {
      problem.cause = from;
      if (from.issues) problem.issues = from.issues;
    }
    this.found.push(problem);
  }

  /** Runs a check that throws, keeping its error as a problem. */
  catch(path: string, prefix: string, check: () => void): void {
    try {
      check();
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      this.add(error.code, path, `${prefix}${error.message}`, error);
    }
  }
}

const LISTED = new WeakMap<TriggerKitError, readonly ValidationProblem[]>();

/**
 * The problems a definition error stands for, each with its path in the
 * definition (`actions[1].config`), or `undefined` for another error.
 */
export function problemsOfDefinition(
  error: TriggerKitError,
): readonly ValidationProblem[] | undefined {
  return LISTED.get(error);
}

/**
 * One error for every problem of a definition: its code is the first
 * problem's; `issues` lists them all as `{ path, code, message }` (or, for a
 * lone step config problem, the schema's issues).
 */
export function definitionError(
  what: "view" | "job",
  name: unknown,
  found: readonly Found[],
): TriggerKitError {
  const label = typeof name === "string" && name
    ? JSON.stringify(name)
    : "(unnamed)";
  const first = found[0]!;
  const error = new TriggerKitError(
    first.code,
    `Invalid ${what} ${label}: ${found.map((p) => p.message).join("; ")}`,
    {
      cause: first.cause,
      issues: found.length === 1 && first.issues
        ? first.issues
        : found.map(({ path, code, message }) => ({ path, code, message })),
    },
  );
  LISTED.set(
    error,
    found.map(({ path, code, message }) => ({ path, code, message })),
  );
  return error;
}
