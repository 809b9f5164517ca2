/**
 * SPEC §1.1, attacked by a hostile author who has read the sandbox's code:
 * each test is an attack that once worked, kept as a regression test (the
 * attacks that failed from the start live in the other sandbox tests).
 */
import { fixture, rejectsWithCode, withRegistry } from "./_helpers.ts";
import { hostile } from "./_sandbox_helpers.ts";

/** A folder without links, to grant. */
const GRANTED_DIR = fixture("").pathname.replace(/\/$/, "");

const FORGED: Array<
  { what: string; config: Record<string, unknown>; grants?: object }
> = [
  {
    what: "OUT_OF_MEMORY",
    config: { t: "fail", code: "OUT_OF_MEMORY", how: "throw" },
  },
  {
    what: "ACTION_TIMEOUT",
    config: { t: "fail", code: "ACTION_TIMEOUT", how: "throw" },
  },
  {
    what: "SANDBOX_UNAVAILABLE",
    config: { t: "fail", code: "SANDBOX_UNAVAILABLE", how: "throw" },
  },
  {
    what: "INVALID_ACTION after the module loaded",
    config: { t: "fail", code: "INVALID_ACTION", how: "throw" },
  },
  {
    what: "a failed load, sent after the module loaded",
    config: { t: "loadFailed", code: "INVALID_ACTION", how: "return" },
  },
  {
    what: "PERMISSION_DENIED for a host it was granted",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "net",
      target: "127.0.0.1:4321",
      how: "throw",
    },
    grants: { net: ["127.0.0.1:4321"] },
  },
  {
    what: "PERMISSION_DENIED for a path inside its read grant",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "read",
      target: `${GRANTED_DIR}/echo.ts`,
      how: "throw",
    },
    grants: { read: [GRANTED_DIR] },
  },
  {
    what: "PERMISSION_DENIED for a permission Deno does not know",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "net: true } } and restart",
      how: "throw",
    },
  },
];

for (const { what, config, grants } of FORGED) {
  Deno.test(
    `sandbox red team: a frame forged through a polluted global cannot claim ${what}`,
    withRegistry(async (registry) => {
      registry.register("forger", hostile("code_forger.ts"), {
        permissions: grants ?? {},
      });
      await rejectsWithCode(
        registry.run("forger", [], { config }),
        "ACTION_FAILED",
      );
    }),
  );
}
