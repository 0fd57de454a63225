// The controller's side of the instance manager's API: every answer is input, read at most
// IM_MAX_BODY bytes within a second and parsed with the API's schemas; the bearer token comes from
// the instance's internal Secret, read once per instance (by uid) and kept in memory, never logged.
import { backupReport, IM_MAX_BODY, IM_TOKEN_KEY, INSTANCE_MANAGER_PORT, internalSecretName, memberReport, type BackupReport, type DesiredState, type MemberReport } from "../api/database.ts";
import { readAtMost } from "../runtime/bounded.ts";
import { SecretRef } from "../runtime/core.ts";
import { isForbidden, isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import type { ExternalCall } from "../runtime/managed.ts";
import type { z } from "zod";

const TIMEOUT_MS = 1_000;

export class InstanceManagers {
  private readonly tokens = new Map<string, string>();
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** The instance's token (by its uid), or undefined while its internal Secret does not exist or may not be read. */
  async token(db: KubeObject): Promise<string | undefined> {
    const uid = db.metadata.uid ?? "";
    const known = this.tokens.get(uid);
    if (known) return known;
    try {
      const s = await this.client.get<KubeObject & { data?: Record<string, string> }>(SecretRef, internalSecretName(db.metadata.name), db.metadata.namespace);
      const t = s.data?.[IM_TOKEN_KEY] ? Buffer.from(s.data[IM_TOKEN_KEY], "base64").toString("utf8") : undefined;
      if (t) this.tokens.set(uid, t);
      return t;
    } catch (e) {
      if (isNotFound(e) || isForbidden(e)) return undefined; // the instance shows why (SecretsForbidden)
      throw e;
    }
  }

  forget(db: KubeObject): void {
    this.tokens.delete(db.metadata.uid ?? "");
  }

  private async call<T>(address: string, token: string, method: string, path: string, schema: z.ZodType<T> | undefined, body?: unknown): Promise<T | undefined> {
    try {
      const res = await fetch(`http://${address}:${INSTANCE_MANAGER_PORT}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await readAtMost(res.body, IM_MAX_BODY);
      if (!res.ok || !text) return undefined;
      if (!schema) return {} as T;
      const parsed = schema.safeParse(JSON.parse(text.toString("utf8")));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  status(address: string, token: string): Promise<MemberReport | undefined> {
    return this.call(address, token, "GET", "/status", memberReport);
  }

  tell(member: string, address: string, token: string, desired: DesiredState): ExternalCall {
    return {
      what: `tell ${member} ${desired.role}@${desired.epoch}`,
      call: async () => ((await this.call(address, token, "PUT", "/desired", memberReport, desired)) ? "done" : "refused"),
    };
  }

  backup(address: string, token: string, id: string): Promise<BackupReport | undefined> {
    return this.call(address, token, "GET", `/backups/${id}`, backupReport);
  }

  startBackup(address: string, token: string, id: string): ExternalCall {
    return { what: `start backup ${id}`, call: async () => ((await this.call(address, token, "POST", "/backups", backupReport, { id })) ? "done" : "refused") };
  }

  deleteBackup(address: string, token: string, id: string): ExternalCall {
    return { what: `delete backup ${id}`, call: async () => ((await this.call(address, token, "DELETE", `/backups/${id}`, backupReport)) ? "done" : "refused") };
  }

  switchWal(address: string, token: string): ExternalCall {
    return { what: "switch WAL", call: async () => ((await this.call(address, token, "POST", "/switch-wal", undefined)) ? "done" : "refused") };
  }
}

/** The directory a DBBackup's copy lives in: its name and a piece of its uid (a new backup of the same name is another copy). */
export const backupId = (b: KubeObject) => `${b.metadata.name}-${(b.metadata.uid ?? "").slice(0, 8)}`;
