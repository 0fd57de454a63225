// kubectl-cellcloud: the entry point bin/kubectl-cellcloud runs. Help and completion scripts need no
// cluster and load nothing else; the client and the verbs are imported only when a verb runs.
import { parseCommandLine, rootHelp, verbHelp } from "./args.ts";
import type { Io } from "./commands.ts";
import { bashScript, complete, formatCompletion, zshScript, type Lookup } from "./complete.ts";
import { CliError } from "./errors.ts";

const stdio: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  now: () => new Date(),
};

/** Names for completion; a lookup that fails (no cluster, no access) offers nothing. */
const lookup: Lookup = async (what, conn) => {
  if (what === "shells") return ["bash", "zsh"];
  const kube = await import("./kube.ts");
  if (what === "contexts") return kube.contextNames(conn.kubeconfig);
  const client = await kube.connect({ ...conn, timeoutMs: 5000 });
  const { CellRef, FlavorRef, InstanceRef, NamespaceRef, NodeRef, TenantRef } = await import("./api.ts");
  const names = async (ref: typeof NodeRef, ns?: string) => (await client.list<{ metadata: { name: string } }>(ref, ns)).map((o) => o.metadata.name).sort();
  try {
    switch (what) {
      case "instances": return await names(InstanceRef, client.namespace);
      case "nodes": return await names(NodeRef);
      case "flavors": return await names(FlavorRef);
      case "namespaces": return await names(NamespaceRef);
      case "tenants": return await names(TenantRef);
      case "cells": return await names(CellRef);
      case "orders": return (await (await import("./commands.ts")).waitingOrders(client, client.namespace)).map((o) => `${o.kind}/${o.name}`);
    }
  } finally {
    client.close();
  }
};

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  if (argv[0] === "__complete") {
    io.out(formatCompletion(await complete(argv.slice(1), lookup)));
    return 0;
  }
  const line = parseCommandLine(argv);
  if (!line.verb) {
    io.out(rootHelp());
    return 0;
  }
  if (line.help) {
    io.out(verbHelp(line.verb));
    return 0;
  }
  if (line.verb.name === "completion") {
    const shell = line.args[0];
    if (shell !== "bash" && shell !== "zsh") throw new CliError("InvalidArguments", `completion: expected bash or zsh, got "${shell ?? ""}"`);
    io.out(shell === "bash" ? bashScript : zshScript);
    return 0;
  }
  const [{ connect }, { commands }] = await Promise.all([import("./kube.ts"), import("./commands.ts")]);
  const run = commands[line.verb.name];
  if (!run) throw new CliError("UnknownVerb", `unknown verb "${line.verb.name}"`);
  const client = await connect(line.connect);
  try {
    await run(client, line, io);
  } finally {
    client.close();
  }
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`error: ${e instanceof CliError ? e.message : e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
