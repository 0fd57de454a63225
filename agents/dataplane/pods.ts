// The local data plane's pure parts: which images it can run (and as what command), paths under a
// container's mounts mapped to the directories the agent writes them to, and pod addresses.
import { fileURLToPath } from "node:url";
import type * as k8s from "@kubernetes/client-node";
import { AddressSpace, pickAddress } from "../../operators/runtime/ipam.ts";

export type Container = k8s.V1Container;
/** A container's mounts: the path it asks for, and the directory on this machine that holds it. */
export type Mounts = ReadonlyArray<{ mountPath: string; local: string }>;

/**
 * The images this machine can run, by repository name, and the command each runs when the container
 * names none (the image's entrypoint). The binaries come from Debian packages hack/ensure-packages installs.
 */
export const IMAGES: Readonly<Record<string, readonly string[]>> = {
  haproxy: ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
  // an RDS member: our instance manager (on this Node.js) over Debian's PostgreSQL binaries
  postgres: [process.execPath, fileURLToPath(new URL("../rds/instance-manager.ts", import.meta.url))],
  // MQ brokers: our entrypoints, which write the broker's configuration and run it (Kafka from the
  // jars hack/ensure-kafka fetched, on Java 17; Debian's rabbitmq-server)
  kafka: [process.execPath, fileURLToPath(new URL("../mq/kafka-node.ts", import.meta.url))],
  rabbitmq: [process.execPath, fileURLToPath(new URL("../mq/rabbitmq-node.ts", import.meta.url))],
};

/** docker.io/library/haproxy:2.6@sha256:… → haproxy. */
export function repositoryOf(image: string): string {
  const noDigest = image.split("@")[0]!;
  const last = noDigest.split("/").pop()!;
  return last.split(":")[0]!;
}

/** The argv to run for a container, or why it cannot run here. */
export function imageCommand(c: Pick<Container, "image" | "command" | "args">): string[] | string {
  const repo = repositoryOf(c.image ?? "");
  const entrypoint = IMAGES[repo];
  if (!entrypoint) return `image ${c.image}: the local data plane runs only ${Object.keys(IMAGES).join(", ")} images`;
  const argv = [...(c.command?.length ? c.command : entrypoint), ...(c.args ?? [])];
  return argv.length ? argv : `image ${c.image}: nothing to run`;
}

/** A value naming a path under one of the mounts, rewritten to where the agent keeps it (the longest mount wins). */
export function mapPath(value: string, mounts: Mounts): string {
  const m = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)
    .find((x) => value === x.mountPath || value.startsWith(`${x.mountPath.replace(/\/$/, "")}/`));
  return m ? m.local + value.slice(m.mountPath.replace(/\/$/, "").length) : value;
}

/**
 * A pod's loopback address: the one it had (an agent restarted) if still its own, else a free one of
 * `cidr` other than its network and broadcast addresses. `reserved` maps addresses to pods' uids.
 */
export function podAddress(cidr: string, uid: string, prior: string | undefined, reserved: ReadonlyMap<string, string>): string | undefined {
  const [net] = cidr.split("/");
  const parts = net!.split(".").map(Number);
  const space = new AddressSpace([cidr], [net!, `${parts[0]}.${parts[1]}.255.255`]);
  if (prior && space.contains(prior) && (reserved.get(prior) ?? uid) === uid) return prior;
  return pickAddress(space, (ip) => reserved.has(ip), reserved.size, 0);
}


/**
 * The user and group a container runs as: its securityContext, then the pod's (runAsUser,
 * runAsGroup; fsGroup owns the volumes). Undefined fields: the agent's own.
 */
export function identityOf(pod: { spec?: { securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number } } }, c?: Pick<Container, "securityContext">): { uid?: number; gid?: number; fsGroup?: number } {
  const p = pod.spec?.securityContext ?? {};
  const uid = c?.securityContext?.runAsUser ?? p.runAsUser;
  const gid = c?.securityContext?.runAsGroup ?? p.runAsGroup ?? uid;
  return { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}), ...(p.fsGroup !== undefined ? { fsGroup: p.fsGroup } : {}) };
}
