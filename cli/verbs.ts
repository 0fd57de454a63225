// The plugin's verbs and flags as data: parsing, --help and shell completion all read this table, so
// a verb added here is parsed, documented and completed at once (its code is in cli/commands.ts).

/** What completion offers for an argument or a flag's value (looked up on the apiserver where needed). */
export type Candidates = "instances" | "nodes" | "flavors" | "namespaces" | "contexts" | "tenants" | "cells" | "orders" | "shells";

export interface OptionDef {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in --help, e.g. NODE. */
  value?: string;
  help: string;
  complete?: Candidates;
  /** The value is optional and given only as --flag=VALUE (--wait). */
  inline?: boolean;
}

export interface Verb {
  name: string;
  aliases?: string[];
  group: "Instances" | "Orders" | "Tenants and platform" | "Other";
  summary: string;
  usage: string;
  description: string;
  examples: string[];
  options: Record<string, OptionDef>;
  /** Positional arguments: how many, and what completion offers for them. */
  args: { min: number; max: number; complete?: Candidates };
  /** Whether -A/--all-namespaces means something for it. */
  allNamespaces?: boolean;
  hidden?: boolean;
}

export const globalOptions: Record<string, OptionDef> = {
  kubeconfig: { type: "string", value: "FILE", help: "Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)." },
  context: { type: "string", value: "NAME", help: "The kubeconfig context to use.", complete: "contexts" },
  namespace: { type: "string", short: "n", value: "NAMESPACE", help: "The namespace (default: the context's, else default).", complete: "namespaces" },
  "all-namespaces": { type: "boolean", short: "A", help: "Every namespace (listing verbs only)." },
  as: { type: "string", value: "USER", help: "Act as this user (impersonation, as kubectl --as)." },
  "as-group": { type: "string", multiple: true, value: "GROUP", help: "Act as a member of this group (repeatable, as kubectl --as-group)." },
  help: { type: "boolean", short: "h", help: "Show help." },
};

/** How long --wait waits when given no duration. */
export const DEFAULT_WAIT = "5m";

const wait: OptionDef = { type: "string", inline: true, value: "DURATION", help: `Wait until the instance got there (default ${DEFAULT_WAIT}; e.g. --wait=90s).` };

const power = (name: string, state: string, summary: string, what: string): Verb => ({
  name, group: "Instances", summary, usage: `${name} NAME... [--wait[=DURATION]]`,
  description: `${what}\nWrites spec.${name === "reboot" ? "restartRequestedAt" : `powerState: ${state}`} of each instance with a JSON merge patch; the instance controller does the rest.`,
  examples: [`kubectl cellcloud ${name} web-1 web-2 -n acme-prod`, `kubectl cellcloud ${name} web-1 --wait=2m`],
  options: { wait }, args: { min: 1, max: Infinity, complete: "instances" },
});

export const verbs: Verb[] = [
  power("start", "Running", "Start (or resume) instances", "Boots stopped instances and resumes paused ones."),
  power("stop", "Stopped", "Stop instances (releases their hosts, keeps their disks)", "Shuts instances down; their hosts are released, their disks kept."),
  power("pause", "Paused", "Pause instances (frozen on their hosts)", "Freezes instances on their hosts; start resumes them."),
  power("reboot", "Running", "Reboot instances", "Reboots instances once: sets spec.restartRequestedAt to now (as kubectl rollout restart does)."),
  {
    name: "migrate", group: "Instances", summary: "Move an instance to another host", usage: "migrate NAME [--to NODE] [--wait[=DURATION]]",
    description: "Cold-migrates an instance: sets spec.migration {requestedAt: now, targetNode}. Without --to the scheduler picks another suitable host; status.migration records the move.",
    examples: ["kubectl cellcloud migrate web-1", "kubectl cellcloud migrate web-1 --to pool-x86-2 --wait"],
    options: { to: { type: "string", value: "NODE", help: "The host to move to (default: any other suitable host).", complete: "nodes" }, wait },
    args: { min: 1, max: 1, complete: "instances" },
  },
  {
    name: "resize", group: "Instances", summary: "Change an instance's flavor or custom size", usage: "resize NAME (--flavor FLAVOR | --cpus N --memory SIZE) [--wait[=DURATION]]",
    description: "Sets spec.flavor (dropping spec.resources) or spec.resources {vcpus, memory} (dropping spec.flavor). Growing an online-resizable size applies while Running; shrinking needs the instance stopped first.",
    examples: ["kubectl cellcloud resize web-1 --flavor g1.large", "kubectl cellcloud resize web-1 --cpus 4 --memory 8Gi --wait"],
    options: {
      flavor: { type: "string", value: "FLAVOR", help: "A Flavor's name.", complete: "flavors" },
      cpus: { type: "string", value: "N", help: "Custom size: vCPUs (steps of 2)." },
      memory: { type: "string", value: "SIZE", help: "Custom size: memory, e.g. 8Gi (steps of 4Gi)." },
      wait,
    },
    args: { min: 1, max: 1, complete: "instances" },
  },
  {
    name: "console-url", group: "Instances", summary: "Print the web console's URL of an instance", usage: "console-url NAME [--console-url BASE]",
    description: "Prints <base>/#/ns/<namespace>/instances/<name>. The base is --console-url, else $CELLCLOUD_CONSOLE_URL, else key url of ConfigMap cellcloud-console in namespace kube-public (the console publishes it).",
    examples: ["kubectl cellcloud console-url web-1 -n acme-prod", "xdg-open \"$(kubectl cellcloud console-url web-1)\""],
    options: { "console-url": { type: "string", value: "BASE", help: "The console's base URL." } },
    args: { min: 1, max: 1, complete: "instances" },
  },
  {
    name: "approve", group: "Orders", summary: "Approve orders of a tenant in Approval mode (or list them)", usage: "approve KIND/NAME... [--by NAME] | approve --list [-A]",
    description: "Sets annotation tenancy.cellcloud.io/approved-by on orders marked tenancy.cellcloud.io/approval-required; the quota webhook lets only users with the `approve` verb on the kind (tenant admins) do it. KIND is a kind, plural or short name of any *.cellcloud.io kind (instance, ecs, volume...).",
    examples: ["kubectl cellcloud approve instance/web-1 -n acme-prod", "kubectl cellcloud approve --list -A"],
    options: {
      by: { type: "string", value: "NAME", help: "The approver recorded in the annotation (default: your user name, as the apiserver knows it)." },
      list: { type: "boolean", short: "l", help: "List the orders waiting for approval instead." },
    },
    args: { min: 0, max: Infinity, complete: "orders" }, allNamespaces: true,
  },
  {
    name: "orders", group: "Orders", summary: "List orders waiting for approval", usage: "orders [-A]",
    description: "Lists the objects in the namespace (or every namespace with -A) that are marked approval-required and not yet approved, as approve --list does.",
    examples: ["kubectl cellcloud orders -A"], options: {}, args: { min: 0, max: 0 }, allNamespaces: true,
  },
  {
    name: "quota", group: "Tenants and platform", summary: "Show the tenant tree with each quota's used / reserved / hard", usage: "quota [TENANT]",
    description: "Prints the tenants (departments under their parents, to any depth) and, per Quota, its zone and architecture and per dimension what is used, reserved (admitted, not yet seen) and the hard limit. With TENANT, only that tenant's subtree.",
    examples: ["kubectl cellcloud quota", "kubectl cellcloud quota acme"], options: {}, args: { min: 0, max: 1, complete: "tenants" },
  },
  {
    name: "capacity", group: "Tenants and platform", summary: "Show cells, their nodes and capacity per architecture, and node pools", usage: "capacity [CELL]",
    description: "Prints each Cell's nodes (total, ready, not ready, cordoned), its capacity, allocatable and allocated cpu and memory per architecture, and its NodePools.",
    examples: ["kubectl cellcloud capacity", "kubectl cellcloud capacity cell-a"], options: {}, args: { min: 0, max: 1, complete: "cells" },
  },
  {
    name: "completion", group: "Other", summary: "Print a shell completion script (bash or zsh)", usage: "completion bash|zsh",
    description: "Prints a completion script for kubectl-cellcloud run directly. For `kubectl cellcloud <TAB>` (kubectl >= 1.26) put bin/kubectl_complete-cellcloud on PATH next to kubectl-cellcloud.",
    examples: ["source <(kubectl cellcloud completion bash)", "kubectl cellcloud completion zsh > \"${fpath[1]}/_kubectl-cellcloud\""],
    options: {}, args: { min: 1, max: 1, complete: "shells" },
  },
  {
    name: "__complete", group: "Other", summary: "Completion candidates for the words given (used by the completion scripts)", usage: "__complete WORD... CURRENT",
    description: "Prints one candidate a line, then :DIRECTIVE (cobra's protocol, which kubectl's plugin completion speaks).",
    examples: [], options: {}, args: { min: 0, max: Infinity }, hidden: true,
  },
];

export function findVerb(name: string): Verb | undefined {
  return verbs.find((v) => v.name === name || v.aliases?.includes(name));
}
