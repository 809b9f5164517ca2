import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const ENTRIES = ["mod.ts", "action.ts", "src/cli/main.ts"];
const MAX_LINES = 500;

interface InfoModule {
  specifier: string;
  dependencies?: Array<{
    code?: { specifier: string };
    type?: { specifier: string };
  }>;
}

/** The local module graph of an entry, as `deno info --json` reports it (type imports included). */
async function graph(entry: string): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, ROOT).pathname],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: InfoModule[];
  };
  const local = (specifier: string) => specifier.startsWith(ROOT.href);
  const edges = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!local(module.specifier)) continue;
    const targets = (module.dependencies ?? []).flatMap((dependency) =>
      [dependency.code?.specifier, dependency.type?.specifier].filter((
        specifier,
      ): specifier is string => specifier !== undefined && local(specifier))
    );
    edges.set(module.specifier, [...new Set(targets)]);
  }
  return edges;
}

/** One cycle of the graph, as a list of files, or undefined. */
function findCycle(edges: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") {
      return [...path.slice(path.indexOf(node)), node];
    }
    state.set(node, "open");
    path.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

for (const entry of ENTRIES) {
  Deno.test(`architecture: no import cycle among the modules of ${entry}`, async () => {
    const edges = await graph(entry);
    assert.ok(edges.size > 1, `deno info found no local modules for ${entry}`);
    const cycle = findCycle(edges);
    assert.equal(
      cycle,
      undefined,
      `import cycle: ${
        cycle?.map((file) => file.slice(ROOT.href.length)).join(" → ")
      }`,
    );
  });
}

Deno.test("architecture: the cycle finder finds a cycle", () => {
  const edges = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
  assert.deepEqual(findCycle(edges), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), undefined);
});

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sourceFiles(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

Deno.test(`architecture: no source file in src/, sandbox/ or actions/ is over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const folder of ["src/", "sandbox/", "actions/"]) {
    for await (const file of sourceFiles(new URL(folder, ROOT))) {
      const lines = (await Deno.readTextFile(file)).split("\n").length - 1;
      if (lines > MAX_LINES) {
        long.push(`${file.href.slice(ROOT.href.length)} (${lines})`);
      }
    }
  }
  assert.deepEqual(long, []);
});

Deno.test("architecture: shipped code does not cite SPEC.md, a file the package does not ship", async () => {
  const citing: string[] = [];
  for (const folder of ["src/", "actions/"]) {
    for await (const file of sourceFiles(new URL(folder, ROOT))) {
      if ((await Deno.readTextFile(file)).includes("SPEC.md")) {
        citing.push(file.href.slice(ROOT.href.length));
      }
    }
  }
  for (const file of ["mod.ts", "action.ts"]) {
    if ((await Deno.readTextFile(new URL(file, ROOT))).includes("SPEC.md")) {
      citing.push(file);
    }
  }
  assert.deepEqual(citing, []);
});

Deno.test("architecture: every public method of Registry (and ActionRegistry) has an @example that asserts", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", new URL("mod.ts", ROOT).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const doc = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  const symbols = Object.values(doc.nodes).flatMap((node) => node.symbols);
  const lacking: string[] = [];
  let methods = 0;
  for (const name of ["Registry", "ActionRegistry"]) {
    const symbol = symbols.find((s) => s.name === name);
    assert.ok(symbol, `${name} is exported from mod.ts`);
    for (const declaration of symbol.declarations) {
      for (const method of declaration.def.methods ?? []) {
        if (method.accessibility === "private") continue;
        methods++;
        const examples = (method.jsDoc?.tags ?? []).filter((tag) =>
          tag.kind === "example"
        );
        if (!examples.some((tag) => /\bassert\b/.test(tag.doc ?? ""))) {
          lacking.push(`${name}.${method.name}`);
        }
      }
    }
  }
  assert.ok(methods > 15, `only ${methods} methods found`);
  assert.deepEqual(lacking, []);
});

interface DocSymbol {
  name: string;
  declarations: Array<{
    def: {
      methods?: Array<{
        name: string;
        accessibility?: string;
        jsDoc?: { tags?: Array<{ kind: string; doc?: string }> };
      }>;
    };
  }>;
}
