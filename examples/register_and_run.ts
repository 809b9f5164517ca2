/**
 * Registers an in-process action and runs it on a few rows.
 *
 * Run with `deno run examples/register_and_run.ts`.
 */
import { z } from "zod";
import { createRegistry } from "../mod.ts";

const registry = createRegistry();

registry.register(
  "flag_large_orders",
  ({ data, config, context }) => {
    const large = data.filter((row) => Number(row.total) > config.threshold);
    context.flagged = large.map((row) => row.id);
    return { flagged: large.length };
  },
  {
    description: "Counts orders over a threshold",
    config: z.object({ threshold: z.number().default(100) }),
  },
);

const rows = [
  { id: 1, total: 40 },
  { id: 2, total: 250 },
  { id: 3, total: 120 },
];
const context: Record<string, unknown> = {};
const result = await registry.run("flag_large_orders", rows, { context });
console.log("result:", result, "context:", context);
await registry.close();
