// The ECS catalog against the real apiserver: the CRD schema and CEL refuse bad flavors, images and
// keys with a message naming the field; the controller reports Ready, and a key pair's fingerprint
// (or why its key is malformed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../operators/runtime/types.ts";
import { eventually, kubeConfig, kubectl, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { DeploymentSetRef, FlavorRef, ImageRef, KeyPairRef } from "../operators/api/compute.ts";

const ns = useNamespace("catalog");
const client = () => new KubeClient(kubeConfig());
const created: Array<[ResourceRef, string]> = [];
let m: InProcessManager;

beforeAll(async () => { m = await startManager(["compute-catalog"]); });
afterAll(async () => {
  for (const [ref, name] of created) await client().delete(ref, name).catch(() => undefined);
  await m?.mgr.stop();
});

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCv2o//hoglfeaB8uulpobDLmoPPYqgGaVA63agx92X demo@cellcloud";
type Obj = KubeObject & { spec: Record<string, unknown>; status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason: string; message: string }>; fingerprint?: string } };

function create(ref: ResourceRef, spec: Record<string, unknown>, name = uniqueName(ref.plural.slice(0, 6))): Promise<Obj> {
  if (!ref.namespaced) created.push([ref, name]);
  return client().create<Obj>(ref, { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, metadata: { name, ...(ref.namespaced ? { namespace: ns.name } : {}) }, spec });
}
const ready = (o: Obj) => o.status?.conditions?.find((c) => c.type === "Ready");
const image = (extra: Record<string, unknown>) => ({ os: { type: "linux", distribution: "ubuntu", version: "22.04" }, architecture: "amd64", source: { url: "https://example.com/u.img" }, ...extra });

describe("ECS catalog", () => {
  it("refuses bad specs with a message naming the field", async () => {
    const flavor = { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] };
    expect(await refusal(create(FlavorRef, { ...flavor, vcpus: 300 }))).toMatch(/spec\.vcpus.*256/);
    expect(await refusal(create(FlavorRef, { ...flavor, memory: "600Gi" }))).toMatch(/memory must not exceed 512Gi/);
    expect(await refusal(create(FlavorRef, { ...flavor, architectures: ["riscv64"] }))).toMatch(/spec\.architectures\[0\].*Unsupported value/);
    expect(await refusal(create(ImageRef, image({ source: { url: "https://example.com/a.img", volume: { name: "b" } } })))).toMatch(/spec\.source must set exactly one of url or volume/);
    expect(await refusal(create(KeyPairRef, { publicKey: "-----BEGIN RSA PRIVATE KEY-----" }))).toMatch(/spec\.publicKey/);
    expect(await refusal(create(DeploymentSetRef, { domain: "datacenter" }))).toMatch(/spec\.domain.*Unsupported value/);
  });

  it("reports Ready for flavors, images and deployment sets, and a key pair's fingerprint", async () => {
    const objs = await Promise.all([
      create(FlavorRef, { vcpus: 4, memory: "8Gi", family: "general", architectures: ["amd64", "arm64"] }),
      create(ImageRef, image({})),
      create(DeploymentSetRef, { domain: "rack" }),
      create(KeyPairRef, { publicKey: key }),
    ]);
    const refs = [FlavorRef, ImageRef, DeploymentSetRef, KeyPairRef];
    const done = await Promise.all(objs.map((o, i) => eventually(async () => {
      const got = await client().get<Obj>(refs[i]!, o.metadata.name, o.metadata.namespace);
      return ready(got)?.status === "True" && got.status?.observedGeneration === got.metadata.generation && got;
    }, { what: `${refs[i]!.kind} Ready` })));
    expect(ready(done[0]!)?.message).toBe("4 vCPU, 8Gi (general) on amd64, arm64");
    expect(ready(done[1]!)?.message).toBe("ubuntu 22.04 (amd64), private, from https://example.com/u.img");
    expect(ready(done[2]!)?.message).toBe("members spread over racks, at most 1 per rack");
    expect(done[3]!.status?.fingerprint).toBe("SHA256:Bs7DDHxAOM34xC4zCkZMMKV3IJCZPXrB4ki+jOKFVF4");
    // The key is immutable: a new key is a new KeyPair.
    expect(await refusal(client().patch(KeyPairRef, done[3]!.metadata.name, ns.name, { spec: { publicKey: key.replace("demo", "other") } }, "merge")))
      .toMatch(/spec\.publicKey is immutable/);
  });

  it("says why a key pair whose data does not match its type is not Ready", async () => {
    const kp = await create(KeyPairRef, { publicKey: key.replace(/^ssh-ed25519/, "ssh-rsa") });
    const got = await eventually(async () => { const o = await client().get<Obj>(KeyPairRef, kp.metadata.name, ns.name); return ready(o)?.status === "False" && o; }, { what: "KeyPair Ready=False" });
    expect(ready(got)).toMatchObject({ reason: "InvalidPublicKey", message: expect.stringMatching(/spec\.publicKey is not a well-formed ssh-rsa key/) });
  });

  it("is explained by kubectl", () => {
    expect(kubectl(["explain", "flavors.spec.vcpus"])).toMatch(/Virtual CPUs, 1 to 256/);
    expect(kubectl(["explain", "images.spec.sharedWith"])).toMatch(/Other tenants that may boot from this image/);
    expect(kubectl(["explain", "instances.spec.image"])).toMatch(/NAMESPACE\/NAME names an image shared by another tenant/);
  });
});
