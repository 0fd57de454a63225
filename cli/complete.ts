// Shell completion. `__complete WORD... CURRENT` speaks cobra's protocol (one candidate a line,
// "candidate<TAB>description" allowed, then ":DIRECTIVE"), which kubectl >= 1.26 uses for plugins
// through bin/kubectl_complete-cellcloud; the bash and zsh scripts drive the same entry point.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { verbPosition } from "./args.ts";
import type { ConnectOptions } from "./kube.ts";
import { findVerb, globalOptions, verbs, type Candidates, type OptionDef } from "./verbs.ts";

/** cobra's ShellCompDirectiveNoFileComp: never fall back to file names. */
export const NO_FILE_COMPLETION = 4;

/** Names of one kind of thing, looked up with the connection the words so far describe. */
export type Lookup = (what: Candidates, conn: ConnectOptions) => Promise<string[]>;

export interface Completion { candidates: string[]; directive: number }

const connectionOf = (words: string[]): ConnectOptions => {
  const config: ParseArgsOptionsConfig = Object.fromEntries(Object.entries(globalOptions).map(([k, d]) => [k, { type: d.type, ...(d.short ? { short: d.short } : {}) }]));
  const { values } = parseArgs({ args: words, options: config, strict: false, allowPositionals: true });
  const s = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const conn: ConnectOptions = {};
  const kubeconfig = s("kubeconfig"), context = s("context"), namespace = s("namespace"), as = s("as");
  if (kubeconfig) conn.kubeconfig = kubeconfig;
  if (context) conn.context = context;
  if (namespace) conn.namespace = namespace;
  if (as) conn.as = as;
  return conn;
};

/** The option a flag word names ("--to", "-n"), among `defs`. */
function optionNamed(defs: Record<string, OptionDef>, word: string): OptionDef | undefined {
  if (word.startsWith("--")) return defs[word.slice(2)];
  if (/^-[A-Za-z]$/.test(word)) return Object.values(defs).find((d) => d.short === word.slice(1));
  return undefined;
}

const takesValue = (d: OptionDef | undefined) => d?.type === "string" && !d.inline;

/** Positional words after the verb: skips flags and the values of flags that take one. */
function positionalsAfter(words: string[], defs: Record<string, OptionDef>): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (w.startsWith("-")) {
      if (!w.includes("=") && takesValue(optionNamed(defs, w))) i++;
      continue;
    }
    out.push(w);
  }
  return out;
}

const safe = async (p: Promise<string[]>) => p.catch(() => []);

export async function complete(words: string[], lookup: Lookup): Promise<Completion> {
  const cur = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const at = verbPosition(before);
  const verb = at ? findVerb(at.name) : undefined;
  const defs = { ...globalOptions, ...verb?.options };
  const conn = connectionOf(before);
  const done = (candidates: string[]): Completion => ({ candidates: candidates.filter((c) => c.startsWith(cur)), directive: NO_FILE_COMPLETION });

  // the value of a flag: "--to <TAB>" or "--to=<TAB>"
  const prev = before.at(-1) ?? "";
  const prevOpt = prev.includes("=") ? undefined : optionNamed(defs, prev);
  if (prevOpt && takesValue(prevOpt)) return done(prevOpt.complete ? await safe(lookup(prevOpt.complete, conn)) : []);
  if (cur.startsWith("--") && cur.includes("=")) {
    const name = cur.slice(0, cur.indexOf("="));
    const o = optionNamed(defs, name);
    const values = o?.complete ? await safe(lookup(o.complete, conn)) : [];
    return done(values.map((v) => `${name}=${v}`));
  }
  if (cur.startsWith("-")) {
    return done(Object.entries(defs).map(([k, d]) => `--${k}\t${d.help}`));
  }
  if (!verb) {
    if (at) return done([]); // an unknown verb
    return done(verbs.filter((v) => !v.hidden).map((v) => `${v.name}\t${v.summary}`));
  }
  const given = positionalsAfter(before.slice((at?.index ?? 0) + 1), defs);
  if (given.length >= verb.args.max || !verb.args.complete) return done([]);
  const names = await safe(lookup(verb.args.complete, conn));
  return done(names.filter((n) => !given.includes(n)));
}

export function formatCompletion(c: Completion): string {
  return [...c.candidates, `:${c.directive}`].join("\n") + "\n";
}

/** bash: completion for kubectl-cellcloud run directly (kubectl's own completion uses kubectl_complete-cellcloud). */
export const bashScript = `# bash completion for kubectl-cellcloud: source <(kubectl-cellcloud completion bash)
_kubectl_cellcloud() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out line
  local -a words=("\${COMP_WORDS[@]:1:COMP_CWORD-1}")
  out=$(kubectl-cellcloud __complete "\${words[@]}" "$cur" 2>/dev/null) || return
  COMPREPLY=()
  while IFS= read -r line; do
    [[ -z $line || $line == :* ]] && continue
    COMPREPLY+=("\${line%%$'\\t'*}")
  done <<<"$out"
}
complete -F _kubectl_cellcloud kubectl-cellcloud
`;

/** zsh: the same, with the candidates' descriptions. */
export const zshScript = `#compdef kubectl-cellcloud
# zsh completion for kubectl-cellcloud: source <(kubectl-cellcloud completion zsh)
_kubectl_cellcloud() {
  local -a lines described
  local line
  lines=("\${(@f)$(kubectl-cellcloud __complete "\${(@)words[2,CURRENT-1]}" "\${words[CURRENT]}" 2>/dev/null)}")
  for line in "\${lines[@]}"; do
    [[ -z $line || $line == :* ]] && continue
    if [[ $line == *$'\\t'* ]]; then described+=("\${line%%$'\\t'*}:\${line#*$'\\t'}"); else described+=("$line"); fi
  done
  _describe -t values 'kubectl-cellcloud' described
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _kubectl_cellcloud "$@"; else compdef _kubectl_cellcloud kubectl-cellcloud; fi
`;
