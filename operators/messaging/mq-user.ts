// Reconciles MQUsers on the brokers: Kafka SCRAM-SHA-512 credentials and ACLs, RabbitMQ users, tags
// and permissions per virtual host. The password is generated once into the <name>-mquser Secret
// (never rewritten, so it is stable across restarts), or read from spec.passwordSecret, re-read every
// few seconds so a change is applied. RabbitMQ's stored hash tells whether its password is current;
// Kafka cannot tell, so the Secret version last applied is kept in status.passwordVersion.
import { randomBytes } from "node:crypto";
import {
  credentialsSecretName, KAFKA_PORTS, MQ_LABEL, MQ_USER_FINALIZER, MQInstanceRef, MQUserRef, RABBIT_PORTS, userSecretName, clientServiceName,
  type MQInstanceObj, type MQUserObj, type RabbitPermission,
} from "../api/messaging.ts";
import type { Controller } from "../runtime/controller.ts";
import { SecretRef } from "../runtime/core.ts";
import { completeManaged, type Action, type ExternalCall, type ManagedResource, type Plan } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { aclKey, kafkaReason, wireAcls, type WireAcl } from "./kafka-admin.ts";
import type { BrokerClients } from "./brokers.ts";
import { instanceAccess, olderOwner } from "./access.ts";

export const USER_POLL_MS = 5_000;
export const usernameOf = (u: MQUserObj) => u.spec.username ?? u.metadata.name;

export interface UserObservation {
  instance?: MQInstanceObj;
  conflict?: string;
  unavailable?: string;
  /** The password and which version of its Secret it is; a problem when it cannot be read. */
  password?: { value: string; version: string } | { problem: string };
  /** The generated Secret is missing (no spec.passwordSecret): create it with this password. */
  generate?: string;
  /** What the brokers have. */
  broker?: {
    exists: boolean;
    /** RabbitMQ: the password matches; Kafka: unknown (undefined). */
    passwordMatches?: boolean;
    tags?: string[];
    acls?: WireAcl[];
    permissions?: RabbitPermission[];
  };
  /** The password version last applied to Kafka (memory, then status). */
  applied?: string;
  sync(what: { password?: string; version?: string; tags?: string[]; addAcls?: WireAcl[]; removeAcls?: WireAcl[]; putPermissions?: RabbitPermission[]; removePermissions?: string[] }): ExternalCall;
  remove: ExternalCall;
}

const notReady = (reason: string, message: string, requeueAfterMs = USER_POLL_MS): Plan =>
  ({ status: { conditions: [{ type: "Ready", status: "False", reason, message }] }, requeueAfterMs });

export function userSecret(u: MQUserObj, mq: MQInstanceObj, password: string): KubeObject {
  const host = `${clientServiceName(mq.metadata.name)}.${mq.metadata.namespace}.svc`;
  const name = usernameOf(u);
  const data: Record<string, string> = mq.spec.engine === "kafka"
    ? { username: name, password, mechanism: "SCRAM-SHA-512", "bootstrap-servers": `${host}:${KAFKA_PORTS.client}` }
    : { username: name, password, host, port: String(RABBIT_PORTS.amqp) };
  return {
    apiVersion: "v1", kind: "Secret", type: "Opaque",
    metadata: { name: userSecretName(u.metadata.name), namespace: u.metadata.namespace, labels: { [MQ_LABEL]: mq.metadata.name, "app.kubernetes.io/managed-by": "cellcloud" }, ownerReferences: [controllerRef(u, MQUserRef)] },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  } as KubeObject;
}

export function userPlan(u: MQUserObj, o: UserObservation): Plan {
  const name = usernameOf(u);
  if (!o.instance) return notReady("InstanceNotFound", `spec.instance: MQInstance "${u.spec.instance}" not found in this namespace`);
  const kafka = o.instance.spec.engine === "kafka";
  if (kafka && u.spec.permissions) return { status: { conditions: [{ type: "Ready", status: "False", reason: "WrongEngine", message: `spec.permissions are for rabbitmq users; ${u.spec.instance} runs kafka (use spec.acls)` }] } };
  if (!kafka && u.spec.acls) return { status: { conditions: [{ type: "Ready", status: "False", reason: "WrongEngine", message: `spec.acls are for kafka users; ${u.spec.instance} runs rabbitmq (use spec.permissions)` }] } };
  if (name === (o.instance.spec.defaultUser ?? "admin")) return { status: { conditions: [{ type: "Ready", status: "False", reason: "ResourceConflict", message: `user ${name} is ${u.spec.instance}'s default user (its password is in ${credentialsSecretName(u.spec.instance)})` }] } };
  if (o.conflict) return notReady("ResourceConflict", `user ${name} on ${u.spec.instance} is already managed by MQUser ${o.conflict} (the older one owns it)`, 30_000);
  const actions: Action[] = [];
  if (o.generate) actions.push({ verb: "create", ref: SecretRef, object: userSecret(u, o.instance, o.generate) });
  const secret = u.spec.passwordSecret ? u.spec.passwordSecret.name : userSecretName(u.metadata.name);
  const fields = { username: name, secret };
  if (!o.password || "problem" in o.password) {
    return { actions, status: { fields, conditions: [{ type: "Ready", status: "False", reason: "PasswordUnavailable", message: o.password && "problem" in o.password ? o.password.problem : `waiting for Secret ${secret}` }] }, requeueAfterMs: o.generate ? 500 : USER_POLL_MS };
  }
  if (o.unavailable || !o.broker) return { actions, status: { fields, conditions: [{ type: "Ready", status: "False", reason: "BrokersUnavailable", message: o.unavailable ?? "the brokers have not answered" }] }, requeueAfterMs: USER_POLL_MS };
  const b = o.broker;
  const what: Parameters<UserObservation["sync"]>[0] = {};
  if (kafka) {
    if (!b.exists || o.applied !== o.password.version) Object.assign(what, { password: o.password.value, version: o.password.version });
    const want = wireAcls(u.spec.acls ?? []);
    const have = b.acls ?? [];
    const wantKeys = new Set(want.map(aclKey));
    const haveKeys = new Set(have.map(aclKey));
    const add = want.filter((a) => !haveKeys.has(aclKey(a)));
    const remove = have.filter((a) => !wantKeys.has(aclKey(a)));
    if (add.length) what.addAcls = add;
    if (remove.length) what.removeAcls = remove;
  } else {
    const tags = [...(u.spec.tags ?? [])].sort();
    if (!b.exists || !b.passwordMatches || JSON.stringify(b.tags ?? []) !== JSON.stringify(tags)) Object.assign(what, { password: o.password.value, tags });
    const want = u.spec.permissions ?? [];
    const have = new Map((b.permissions ?? []).map((p) => [p.vhost, p]));
    const put = want.filter((p) => { const h = have.get(p.vhost); return !h || h.configure !== p.configure || h.write !== p.write || h.read !== p.read; });
    const remove = [...have.keys()].filter((v) => !want.some((p) => p.vhost === v));
    const missingVhosts = want.filter((p) => p.vhost !== "/" && !(o.instance!.spec.vhosts ?? []).includes(p.vhost)).map((p) => p.vhost);
    if (missingVhosts.length) {
      return { actions, status: { fields, conditions: [{ type: "Ready", status: "False", reason: "VhostNotFound", message: `spec.permissions: virtual host ${missingVhosts.join(", ")} is not in ${u.spec.instance}'s spec.vhosts` }] }, requeueAfterMs: USER_POLL_MS };
    }
    if (put.length) what.putPermissions = put;
    if (remove.length) what.removePermissions = remove;
  }
  const pending = Object.keys(what).length > 0;
  return {
    actions,
    calls: pending ? [o.sync(what)] : [],
    status: {
      fields: { ...fields, ...(kafka ? { passwordVersion: o.applied, acls: (b.acls ?? []).length } : {}) },
      conditions: [pending
        ? { type: "Ready", status: "False", reason: "Updating", message: `setting user ${name} on the brokers` }
        : { type: "Ready", status: "True", reason: "Available", message: `user ${name} is in place on ${u.spec.instance}` }],
    },
    requeueAfterMs: pending ? 1_000 : USER_POLL_MS,
  };
}

export function setupMQUserController(mgr: Manager, ctx: ProductContext, clients: BrokerClients): Controller {
  const users = mgr.informer<MQUserObj>(MQUserRef);
  const access = instanceAccess(mgr, clients);
  /** Password versions applied to Kafka, by MQUser uid (status keeps them across restarts). */
  const applied = new Map<string, string>();
  const guarded = (what: string, f: () => Promise<void>): ExternalCall => ({
    what,
    call: async () => {
      try { await f(); return "done"; } catch (e) { mgr.log.info({ what, err: kafkaReason(e) }, "brokers refused a user change; retrying"); return "refused"; }
    },
  });

  const observe = async (u: MQUserObj): Promise<UserObservation> => {
    const ns = u.metadata.namespace ?? "";
    const name = usernameOf(u);
    const uid = u.metadata.uid ?? "";
    const a = await access(ns, u.spec.instance);
    const conflict = olderOwner(u, users.list().filter((o) => o.metadata.namespace === ns && o.spec.instance === u.spec.instance && usernameOf(o) === name));
    const noop = guarded("none", async () => {});
    const base: UserObservation = {
      ...(a.instance ? { instance: a.instance } : {}), ...(conflict ? { conflict } : {}), ...(a.unavailable ? { unavailable: a.unavailable } : {}),
      ...(applied.get(uid) ?? u.status?.passwordVersion ? { applied: applied.get(uid) ?? u.status?.passwordVersion } : {}),
      sync: () => noop, remove: noop,
    };
    if (!a.instance || conflict) return base;
    const ref = u.spec.passwordSecret ?? { name: userSecretName(u.metadata.name), key: "password" };
    const s = await clients.secretKey(ref.name, ns, ref.key ?? "password");
    let password: UserObservation["password"];
    let generate: string | undefined;
    if (s === "forbidden") password = { problem: `the manager may not read Secret ${ref.name} in ${ns}` };
    else if (s.value) password = { value: s.value, version: s.version! };
    else if (!u.spec.passwordSecret && !s.version) generate = randomBytes(24).toString("base64url");
    else password = { problem: u.spec.passwordSecret ? `spec.passwordSecret: Secret ${ref.name} has no key ${ref.key ?? "password"}` : `Secret ${ref.name} has no password` };
    const out: UserObservation = { ...base, ...(password ? { password } : {}), ...(generate ? { generate } : {}) };
    const k = a.kafka;
    const r = a.rabbit;
    try {
      if (k) {
        const [have, acls] = await Promise.all([k.scramUsers([name]), k.acls(`User:${name}`)]);
        out.broker = { exists: have.has(name), acls };
        out.remove = guarded(`delete user ${name}`, async () => { await k.deleteAcls(`User:${name}`, "all"); await k.deleteScram(name); });
      } else if (r) {
        const user = await r.user(name, password && "value" in password ? password.value : "");
        out.broker = { exists: Boolean(user), ...(user ? { passwordMatches: user.passwordMatches, tags: user.tags, permissions: await r.permissions(name) } : {}) };
        out.remove = guarded(`delete user ${name}`, () => r.deleteUser(name));
      }
    } catch (e) {
      out.unavailable = `the brokers did not answer: ${kafkaReason(e)}`;
    }
    out.sync = (what) => guarded(`sync user ${name}`, async () => {
      if (k) {
        if (what.password) { await k.upsertScram(name, what.password); applied.set(uid, what.version!); }
        await k.createAcls(`User:${name}`, what.addAcls ?? []);
        await k.deleteAcls(`User:${name}`, what.removeAcls ?? []);
      } else if (r) {
        if (what.password !== undefined) await r.putUser(name, what.password, what.tags ?? []);
        for (const p of what.putPermissions ?? []) await r.putPermission(name, p);
        for (const v of what.removePermissions ?? []) await r.deletePermission(name, v);
      }
    });
    return out;
  };

  const resource: ManagedResource<MQUserObj, UserObservation> = {
    finalizer: MQ_USER_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: (u, o) => userPlan(u, o),
    finalize: (u, o, policy) => {
      applied.delete(u.metadata.uid ?? "");
      if (policy === "Orphan" || o.conflict || !o.instance || o.instance.metadata.deletionTimestamp || (o.broker && !o.broker.exists)) return { done: true };
      if (!o.broker) return { ...notReady("BrokersUnavailable", `deleting user ${usernameOf(u)}: ${o.unavailable ?? "the brokers have not answered"}`), requeueAfterMs: USER_POLL_MS };
      return { calls: [o.remove], requeueAfterMs: 1_000 };
    },
  };
  return completeManaged(
    mgr.controller("mquser").for(MQUserRef).concurrency(4)
      .watches(MQInstanceRef, (mq) => users.list().filter((u) => u.metadata.namespace === mq.metadata.namespace && u.spec.instance === mq.metadata.name).map(keyOf)),
    resource,
  );
}
