// compute.cellcloud.io: the ECS catalog an Instance is built from. Flavors (sizes) and Images (boot
// disks) are cluster-wide; KeyPairs and DeploymentSets (spread groups) belong to a tenant's namespace.
import { z } from "zod";
import { immutable, observed } from "./common.ts";
import { defineKind, type CelValidation } from "./crd.ts";
import { architectures } from "./platform.ts";

const GROUP = "compute.cellcloud.io";
const VERSION = "v1alpha1";

/** The seed's largest instance: 256 vCPU and 512 GiB. */
export const MAX_VCPUS = 256;
export const MAX_MEMORY = "512Gi";

const memory = z
  .string()
  .describe("Memory, as a quantity in Gi, e.g. 8Gi; at most 512Gi.")
  .meta({
    pattern: "^[0-9]+Gi$",
    "x-kubernetes-validations": [
      { rule: `quantity(self).compareTo(quantity('${MAX_MEMORY}')) <= 0`, message: `memory must not exceed ${MAX_MEMORY}` },
      { rule: "quantity(self).isGreaterThan(quantity('0'))", message: "memory must be greater than zero" },
    ],
  });

// ==================== Flavor ====================

const flavorSpec = z
  .object({
    vcpus: z.int().min(1).max(MAX_VCPUS).describe(`Virtual CPUs, 1 to ${MAX_VCPUS}.`),
    memory,
    architectures: z
      .array(z.enum(architectures).describe("A CPU architecture: amd64 or arm64."))
      .min(1)
      .max(2)
      .describe("Architectures the flavor is offered on; an Instance runs on the architecture of its Image.")
      .meta({ "x-kubernetes-list-type": "set" }),
    family: z
      .enum(["basic", "general", "memory", "compute"])
      .describe("Flavor family: basic (shared, small), general (1:2 or 1:4 cpu:memory), memory (1:8), compute (1:2)."),
    onlineResize: z
      .boolean()
      .default(false)
      .describe("Whether instances of this flavor may grow cpu and memory while Running; otherwise a resize needs Stopped."),
  })
  .describe("Desired state of the flavor.");

export const Flavor = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Flavor",
  plural: "flavors",
  shortNames: ["flv"],
  scope: "Cluster",
  description: "Flavor is an instance size an ECS Instance can be launched with: vCPUs, memory and the architectures it is offered on.",
  spec: flavorSpec,
  status: z.object({ ...observed }).describe("Observed state of the flavor."),
  printerColumns: [
    { name: "vCPUs", type: "integer", jsonPath: ".spec.vcpus" },
    { name: "Memory", type: "string", jsonPath: ".spec.memory" },
    { name: "Family", type: "string", jsonPath: ".spec.family" },
    { name: "Online-Resize", type: "boolean", jsonPath: ".spec.onlineResize", priority: 1 },
  ],
});

export type FlavorSpec = z.output<typeof flavorSpec>;

// ==================== Image ====================

const imageSpec = z
  .object({
    os: z
      .object({
        type: z.enum(["linux", "windows"]).describe("Operating system family."),
        distribution: z.string().min(1).max(64).describe("Distribution, e.g. ubuntu, openEuler, kylin, windows-server."),
        version: z.string().min(1).max(32).describe("Version, e.g. 22.04."),
      })
      .describe("The operating system on the image."),
    architecture: z.enum(architectures).describe("CPU architecture the image boots on. Immutable.").meta(immutable("spec.architecture")),
    minDiskGiB: z.int().min(1).max(2048).default(20).describe("Smallest system disk, in GiB, the image fits on."),
    visibility: z
      .enum(["Public", "Private", "Shared"])
      .default("Public")
      .describe("Public: every tenant may use it. Private: only its owner. Shared: its owner and the tenants in sharedWith."),
    owner: z.string().max(63).optional().describe("Tenant that owns a Private or Shared image."),
    sharedWith: z
      .array(z.string().max(63).describe("A tenant's name."))
      .max(256)
      .optional()
      .describe("Tenants a Shared image is shared with.")
      .meta({ "x-kubernetes-list-type": "set" }),
    source: z
      .object({
        url: z.string().max(2048).regex(/^https?:\/\/\S+$/).optional().describe("Where the image file (qcow2, raw or ISO) is downloaded from."),
        volume: z
          .object({
            namespace: z.string().max(63).describe("Namespace of the Volume."),
            name: z.string().max(253).describe("Name of the Volume."),
          })
          .optional()
          .describe("A Volume the image is captured from."),
      })
      .describe("Where the image comes from: exactly one of url or volume. Immutable.")
      .meta(immutable("spec.source")),
  })
  .describe("Desired state of the image.");

const imageValidations: CelValidation[] = [
  { rule: "has(self.source.url) != has(self.source.volume)", message: "spec.source must set exactly one of url or volume", fieldPath: ".source" },
  { rule: "self.visibility == 'Public' || has(self.owner)", message: "spec.owner is required for a Private or Shared image", fieldPath: ".owner" },
  { rule: "!has(self.sharedWith) || self.visibility == 'Shared'", message: "spec.sharedWith is only allowed when spec.visibility is Shared", fieldPath: ".sharedWith" },
];

export const Image = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Image",
  plural: "images",
  shortNames: ["img"],
  scope: "Cluster",
  description: "Image is a bootable disk image for ECS Instances: operating system, architecture, minimum disk and who may use it.",
  spec: imageSpec,
  status: z.object({ ...observed }).describe("Observed state of the image."),
  printerColumns: [
    { name: "OS", type: "string", jsonPath: ".spec.os.distribution" },
    { name: "Version", type: "string", jsonPath: ".spec.os.version" },
    { name: "Arch", type: "string", jsonPath: ".spec.architecture" },
    { name: "Visibility", type: "string", jsonPath: ".spec.visibility" },
    { name: "Min-Disk", type: "integer", jsonPath: ".spec.minDiskGiB", priority: 1 },
  ],
  validations: imageValidations,
});

export type ImageSpec = z.output<typeof imageSpec>;

// ==================== KeyPair ====================

const keyPairSpec = z
  .object({
    publicKey: z
      .string()
      .max(16384)
      .regex(/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( \S.*)?$/)
      .describe("An OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa-sha2-*), injected into instances. Only the public half is ever stored. Immutable.")
      .meta(immutable("spec.publicKey")),
    description: z.string().max(255).optional().describe("What the key is for, e.g. the team or person holding the private half."),
  })
  .describe("Desired state of the key pair.");

const keyPairStatus = z
  .object({
    ...observed,
    fingerprint: z.string().optional().describe("SHA256 fingerprint of the key, as ssh-keygen -l prints it."),
  })
  .describe("Observed state of the key pair.");

export const KeyPair = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "KeyPair",
  plural: "keypairs",
  shortNames: ["kp"],
  scope: "Namespaced",
  description: "KeyPair is an SSH public key an Instance can be launched with; the private key never reaches CellCloud.",
  spec: keyPairSpec,
  status: keyPairStatus,
  printerColumns: [{ name: "Fingerprint", type: "string", jsonPath: ".status.fingerprint" }],
});

export type KeyPairSpec = z.output<typeof keyPairSpec>;
export type KeyPairStatus = z.output<typeof keyPairStatus>;

// ==================== DeploymentSet ====================

const deploymentSetSpec = z
  .object({
    domain: z.enum(["host", "rack", "switch"]).default("host").describe("Failure domain the members spread over: host, rack or (top-of-rack) switch. Immutable.")
      .meta(immutable("spec.domain")),
    mode: z
      .enum(["strict", "best-effort"])
      .default("strict")
      .describe("strict: a member that cannot get a domain of its own stays Pending. best-effort: members prefer the emptiest domain."),
    maxPerDomain: z.int().min(1).max(100).default(1).describe("Members allowed in one domain in strict mode."),
  })
  .describe("Desired state of the deployment set.");

export const DeploymentSet = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "DeploymentSet",
  plural: "deploymentsets",
  shortNames: ["dset"],
  scope: "Namespaced",
  description: "DeploymentSet spreads the Instances that name it over hosts, racks or switches, so one failure takes few of them down.",
  spec: deploymentSetSpec,
  status: z.object({ ...observed }).describe("Observed state of the deployment set."),
  printerColumns: [
    { name: "Domain", type: "string", jsonPath: ".spec.domain" },
    { name: "Mode", type: "string", jsonPath: ".spec.mode" },
    { name: "Max-Per-Domain", type: "integer", jsonPath: ".spec.maxPerDomain" },
  ],
});

export type DeploymentSetSpec = z.output<typeof deploymentSetSpec>;

export const computeCatalogKinds = [Flavor, Image, KeyPair, DeploymentSet] as const;
