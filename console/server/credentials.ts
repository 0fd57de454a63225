// What a user signs in with: a bearer token, or a kubeconfig whose user carries a token or an
// embedded client certificate. The console keeps that credential server-side for the session and
// sends every call to the apiserver with it, never with credentials of its own.
import { z } from "zod";
import { parse as parseYaml } from "yaml";

export type Credential =
  | { kind: "token"; token: string }
  | { kind: "certificate"; cert: string; key: string };

export interface SignIn {
  credential: Credential;
  /** Namespaces the user named (or the kubeconfig context's): where a tenant user's views start. */
  namespaces: string[];
}

/** A token is a header value: printable ASCII, no spaces (JWTs, bootstrap tokens, static tokens). */
const token = z.string().trim().min(1).max(8192).regex(/^[\x21-\x7e]+$/, "token must be printable ASCII without spaces");
const namespaceName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "namespace must be a DNS label").max(63);

export const signInBody = z.strictObject({
  token: token.optional(),
  kubeconfig: z.string().min(1).max(64 * 1024).optional(),
  context: z.string().max(253).optional(),
  namespaces: z.array(namespaceName).max(50).optional(),
}).refine((b) => (b.token === undefined) !== (b.kubeconfig === undefined), { message: "give exactly one of token or kubeconfig" });

export type SignInBody = z.infer<typeof signInBody>;

const b64 = (what: string) => z.string().min(1).max(32 * 1024).transform((s, ctx) => {
  const text = Buffer.from(s, "base64").toString("utf8");
  if (!text.includes("-----BEGIN ")) ctx.addIssue({ code: "custom", message: `${what} is not base64 of a PEM block` });
  return text;
});

const kubeconfigUser = z.object({
  token: token.optional(),
  "client-certificate-data": b64("client-certificate-data").optional(),
  "client-key-data": b64("client-key-data").optional(),
  // present in many kubeconfigs; named here so the error can say why they cannot be used
  tokenFile: z.unknown().optional(),
  "client-certificate": z.unknown().optional(),
  "client-key": z.unknown().optional(),
  exec: z.unknown().optional(),
  "auth-provider": z.unknown().optional(),
}).loose();

const kubeconfigDoc = z.object({
  "current-context": z.string().optional(),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ user: z.string(), namespace: z.string().optional() }).loose() }).loose()).optional(),
  users: z.array(z.object({ name: z.string(), user: kubeconfigUser }).loose()).optional(),
}).loose();

export class SignInError extends Error {}

/** The credential and namespaces a sign-in names; SignInError says what is wrong, naming the field. */
export function credentialsOf(body: SignInBody): SignIn {
  const namespaces = [...(body.namespaces ?? [])];
  if (body.token !== undefined) return { credential: { kind: "token", token: body.token }, namespaces };
  let doc: unknown;
  try {
    doc = parseYaml(body.kubeconfig ?? "", { maxAliasCount: 10 });
  } catch (e) {
    throw new SignInError(`kubeconfig is not YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const parsed = kubeconfigDoc.safeParse(doc);
  if (!parsed.success) throw new SignInError(`kubeconfig: ${z.prettifyError(parsed.error).split("\n").slice(0, 3).join(" ")}`);
  const kc = parsed.data;
  const contextName = body.context ?? kc["current-context"];
  if (!contextName) throw new SignInError("kubeconfig has no current-context: name the context to use");
  const context = kc.contexts?.find((c) => c.name === contextName);
  if (!context) throw new SignInError(`kubeconfig has no context "${contextName}"`);
  const user = kc.users?.find((u) => u.name === context.context.user)?.user;
  if (!user) throw new SignInError(`kubeconfig context "${contextName}" names user "${context.context.user}", which is not in users`);
  const ns = context.context.namespace;
  if (ns && namespaceName.safeParse(ns).success && !namespaces.includes(ns)) namespaces.unshift(ns);
  if (user.token) return { credential: { kind: "token", token: user.token }, namespaces };
  const cert = user["client-certificate-data"], key = user["client-key-data"];
  if (cert && key) return { credential: { kind: "certificate", cert, key }, namespaces };
  const unusable = ["exec", "auth-provider", "tokenFile", "client-certificate", "client-key"].filter((f) => f in user);
  throw new SignInError(
    `kubeconfig user "${context.context.user}" has no token and no client-certificate-data/client-key-data` +
      (unusable.length ? ` (it uses ${unusable.join(", ")}, which the console cannot read: paste a token or a kubeconfig with embedded credentials)` : ""),
  );
}
