/**
 * The secrets a registry's status page must never show: what the command
 * line masks in its output, known to the registry itself (the values of the
 * environment variables its steps read and of those named like secrets, and
 * the passwords of the database URLs it was given).
 *
 * @module
 */
import { environmentSecrets, urlPasswords } from "../redact.ts";
import {
  type Job,
  jobSteps,
  type ViewDefinition,
} from "../jobs/definitions.ts";
import type { RegistryOptions } from "./_options.ts";
import { namedVariables } from "./validate.ts";

/** What the registry knows that may hold a secret: its jobs and views. */
export interface SecretSources {
  /** Its jobs (their steps name the variables they read). */
  listJobs(): readonly Job[];
  /** Its views (their databases may be URLs with a password). */
  listViews(): readonly ViewDefinition[];
}

/**
 * Every secret value the registry knows of, in each form it may be printed.
 *
 * @param sources The registry's jobs and views.
 * @param options The registry's options (`databases`, `store`).
 * @returns The values to mask.
 */
export function shownSecrets(
  sources: SecretSources,
  options: RegistryOptions,
): string[] {
  const jobs = sources.listJobs();
  const variables = jobs.flatMap((job) =>
    jobSteps(job).flatMap(({ step }) =>
      namedVariables(step.config).map(({ variable }) => variable)
    )
  );
  return [
    ...environmentSecrets(variables),
    ...urlPasswords([
      options.databases,
      typeof options.store === "string" ? options.store : "",
      sources.listViews().map((view) => view.database),
      jobs.flatMap((job) => jobSteps(job).map(({ step }) => step.config)),
    ]),
  ];
}
