/**
 * Slack message shapes: an aligned monospace table of rows, and splitting to
 * Slack's limits at line boundaries, so that no row is cut in half.
 *
 * @module
 */
import type { Row } from "../src/types.ts";
import { escapeMrkdwn, toText } from "./_template.ts";

/** Slack's limits (https://api.slack.com/methods/chat.postMessage). */
export const SLACK_LIMITS = {
  text: 40_000,
  blocks: 50,
  sectionText: 3_000,
} as const;

/** The widest a table cell gets before it is shortened. */
const MAX_CELL = 40;

/** A message as it will be posted. */
export interface SlackMessage {
  channel: string;
  text: string;
  blocks?: unknown[];
}

/** Rows as table lines: a header, a rule, one line per row; numbers right-aligned. */
export function tableLines(rows: readonly Row[]): string[] {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  if (columns.length === 0) return [];
  const cell = (value: unknown) => {
    const text = toText(value).replaceAll(/\s+/g, " ");
    return escapeMrkdwn(
      text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text,
    );
  };
  const body = rows.map((row) => columns.map((column) => cell(row[column])));
  const header = columns.map(cell);
  const numeric = columns.map((column) =>
    rows.every((row) => typeof row[column] === "number" || row[column] == null)
  );
  const widths = columns.map((_, i) =>
    Math.max(header[i]!.length, ...body.map((line) => line[i]!.length))
  );
  const line = (cells: string[]) =>
    cells.map((text, i) =>
      numeric[i] ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)
    )
      .join("  ").trimEnd();
  return [
    line(header),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...body.map(line),
  ];
}

/**
 * Groups lines into chunks of at most `limit` characters (joined by "\n").
 * A single line longer than the limit is cut, as nothing else can be done.
 */
export function chunkLines(lines: readonly string[], limit: number): string[] {
  const chunks: string[] = [];
  let current = "";
  for (const original of lines) {
    let line = original;
    while (line.length > limit) {
      if (current) chunks.push(current);
      current = "";
      chunks.push(line.slice(0, limit));
      line = line.slice(limit);
    }
    if (current && current.length + 1 + line.length > limit) {
      chunks.push(current);
      current = line;
    } else {
      current = current ? `${current}\n${line}` : line;
    }
  }
  if (current || chunks.length === 0) chunks.push(current);
  return chunks;
}

/** A table as code blocks, each within `limit`, the header repeated in each. */
export function tableChunks(lines: readonly string[], limit: number): string[] {
  if (lines.length === 0) return [];
  const [header, rule, ...body] = lines;
  const head = `${header}\n${rule}`;
  const fence = (text: string) => "```\n" + text + "\n```";
  const room = limit - fence(head).length - 1;
  return chunkLines(body.length ? body : [""], Math.max(1, room)).map((chunk) =>
    fence(`${head}\n${chunk}`)
  );
}

/** Splits over-long section texts into several sections, then blocks into groups of 50. */
export function splitBlocks(blocks: readonly unknown[]): unknown[][] {
  const flat: unknown[] = [];
  for (const block of blocks) {
    const section = block as {
      type?: string;
      text?: { type?: string; text?: string };
    };
    if (
      section?.type === "section" && typeof section.text?.text === "string" &&
      section.text.text.length > SLACK_LIMITS.sectionText
    ) {
      for (
        const text of chunkLines(
          section.text.text.split("\n"),
          SLACK_LIMITS.sectionText,
        )
      ) {
        flat.push({ ...section, text: { ...section.text, text } });
      }
    } else {
      flat.push(block);
    }
  }
  const groups: unknown[][] = [];
  for (let i = 0; i < flat.length; i += SLACK_LIMITS.blocks) {
    groups.push(flat.slice(i, i + SLACK_LIMITS.blocks));
  }
  return groups;
}
