// The manager's side of RabbitMQ's management HTTP API, as the operator user: every answer is input
// (read at most RABBIT_MAX_BODY bytes, within RABBIT_CALL_MS, parsed with zod); a password is checked
// against the hash the broker keeps (rabbit_password_hashing_sha256), so it is set again only when it
// differs, and never stored anywhere else.
import { createHash } from "node:crypto";
import { z } from "zod";
import { OPERATOR_USER, RABBIT_PORTS, type RabbitPermission } from "../api/messaging.ts";
import { readAtMost } from "../runtime/bounded.ts";

export const RABBIT_CALL_MS = 5_000;
const RABBIT_MAX_BODY = 1024 * 1024;

const nodes = z.array(z.object({ name: z.string(), running: z.boolean() }));
const user = z.object({ name: z.string(), password_hash: z.string(), tags: z.union([z.string(), z.array(z.string())]) });
const vhosts = z.array(z.object({ name: z.string() }));
const permissions = z.array(z.object({ vhost: z.string(), configure: z.string(), write: z.string(), read: z.string() }));

/** Whether `hash` (the broker's password_hash) is `password`'s: base64(salt ‖ sha256(salt ‖ password)) with a 4-byte salt. */
export function passwordMatches(hash: string, password: string): boolean {
  const raw = Buffer.from(hash, "base64");
  if (raw.length !== 36) return false;
  const salt = raw.subarray(0, 4);
  return createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest().equals(raw.subarray(4));
}

export class RabbitClient {
  private readonly base: string;
  private readonly auth: string;
  constructor(host: string, password: string) {
    this.base = `http://${host}:${RABBIT_PORTS.management}/api`;
    this.auth = `Basic ${Buffer.from(`${OPERATOR_USER}:${password}`).toString("base64")}`;
  }

  private async call<T>(method: string, path: string, schema?: z.ZodType<T>, body?: unknown): Promise<T | undefined> {
    const res = await fetch(`${this.base}${path}`, {
      method, headers: { authorization: this.auth, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(RABBIT_CALL_MS),
    });
    const text = await readAtMost(res.body, RABBIT_MAX_BODY);
    if (res.status === 404 && method !== "PUT") return undefined;
    if (!res.ok) throw new Error(`RabbitMQ ${method} ${path.split("/").slice(0, 2).join("/")}: HTTP ${res.status}`);
    if (!schema) return undefined;
    if (!text) throw new Error(`RabbitMQ ${method}: answer larger than ${RABBIT_MAX_BODY} bytes`);
    return schema.parse(JSON.parse(text.toString("utf8")));
  }

  /** The cluster's nodes as the management API lists them. */
  async nodes(): Promise<Array<{ name: string; running: boolean }>> {
    return (await this.call("GET", "/nodes?columns=name,running", nodes)) ?? [];
  }

  async vhosts(): Promise<string[]> {
    return ((await this.call("GET", "/vhosts?columns=name", vhosts)) ?? []).map((v) => v.name);
  }
  async putVhost(name: string): Promise<void> { await this.call("PUT", `/vhosts/${encodeURIComponent(name)}`, undefined, {}); }
  async deleteVhost(name: string): Promise<void> { await this.call("DELETE", `/vhosts/${encodeURIComponent(name)}`); }

  /** The user's tags, and whether its password is `password`; undefined when it does not exist. */
  async user(name: string, password: string): Promise<{ tags: string[]; passwordMatches: boolean } | undefined> {
    const u = await this.call("GET", `/users/${encodeURIComponent(name)}`, user);
    if (!u) return undefined;
    const tags = (Array.isArray(u.tags) ? u.tags : u.tags.split(",")).map((t) => t.trim()).filter(Boolean).sort();
    return { tags, passwordMatches: passwordMatches(u.password_hash, password) };
  }
  async putUser(name: string, password: string, tags: readonly string[]): Promise<void> {
    await this.call("PUT", `/users/${encodeURIComponent(name)}`, undefined, { password, tags: tags.join(",") });
  }
  async deleteUser(name: string): Promise<void> { await this.call("DELETE", `/users/${encodeURIComponent(name)}`); }

  async permissions(name: string): Promise<RabbitPermission[]> {
    return (await this.call("GET", `/users/${encodeURIComponent(name)}/permissions`, permissions)) ?? [];
  }
  async putPermission(name: string, p: RabbitPermission): Promise<void> {
    await this.call("PUT", `/permissions/${encodeURIComponent(p.vhost)}/${encodeURIComponent(name)}`, undefined, { configure: p.configure, write: p.write, read: p.read });
  }
  async deletePermission(name: string, vhost: string): Promise<void> {
    await this.call("DELETE", `/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`);
  }
}
