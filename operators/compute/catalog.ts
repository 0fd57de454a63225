// What the ECS catalog kinds report about themselves. Pure: each takes the object's spec.
import { createHash } from "node:crypto";
import { PUBLIC_IMAGE_NAMESPACE, type DeploymentSetSpec, type FlavorSpec, type ImageSpec, type KeyPairSpec } from "../api/compute.ts";
import type { ComputedStatus } from "../runtime/status-controller.ts";

export function flavorStatus(spec: FlavorSpec): ComputedStatus {
  return { ready: { status: "True", reason: "Available", message: `${spec.vcpus} vCPU, ${spec.memory} (${spec.family}) on ${spec.architectures.join(", ")}` } };
}

export function imageStatus(spec: ImageSpec, namespace: string | undefined): ComputedStatus {
  const from = spec.source.url ? spec.source.url : `volume ${spec.source.volume?.name}`;
  const who = namespace === PUBLIC_IMAGE_NAMESPACE ? "public" : spec.sharedWith?.length ? `shared with ${spec.sharedWith.join(", ")}` : "private";
  return {
    ready: {
      status: "True", reason: "Available",
      message: `${spec.os.distribution} ${spec.os.version} (${spec.architecture}), ${who}, from ${from}`,
    },
  };
}

/** The SHA256 fingerprint ssh-keygen -l prints, or why the key is not a well-formed OpenSSH public key. */
export function keyFingerprint(publicKey: string): { fingerprint: string } | { invalid: string } {
  const [type, data] = publicKey.trim().split(/\s+/);
  const blob = Buffer.from(data ?? "", "base64");
  // The blob starts with the key type again, as a length-prefixed string.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const inner = len > 0 && len + 4 <= blob.length ? blob.subarray(4, 4 + len).toString("latin1") : "";
  if (inner !== type) return { invalid: `spec.publicKey is not a well-formed ${type ?? "OpenSSH"} key: its data does not start with the key type` };
  return { fingerprint: `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}` };
}

export function keyPairStatus(spec: KeyPairSpec): ComputedStatus {
  const fp = keyFingerprint(spec.publicKey);
  if ("invalid" in fp) return { ready: { status: "False", reason: "InvalidPublicKey", message: fp.invalid } };
  return { ready: { status: "True", reason: "Available", message: `key ${fp.fingerprint}` }, fields: { fingerprint: fp.fingerprint } };
}

export function deploymentSetStatus(spec: DeploymentSetSpec): ComputedStatus {
  const rule = spec.mode === "strict" ? `at most ${spec.maxPerDomain} per ${spec.domain}` : `preferring the emptiest ${spec.domain}`;
  return { ready: { status: "True", reason: "Available", message: `members spread over ${spec.domain}s, ${rule}` } };
}
