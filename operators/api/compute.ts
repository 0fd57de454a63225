// compute.cellcloud.io: the ECS catalog an Instance is built from. Flavors (sizes) are cluster-wide;
// Images live in a namespace: the public catalog's (readable by every signed-in user) or a tenant's
// own (readable only under the tenant's RBAC); KeyPairs and DeploymentSets belong to a tenant's namespace.
import { z } from "zod";
import { createHash } from "node:crypto";
import { count, deletionPolicy, imageRef, immutable, ipv4, labelValue, nameAtMost, nameIsDNSLabel, observed, PUBLIC_IMAGE_NAMESPACE, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";
import { architectures } from "./platform.ts";
import type { PricingContext } from "./tenancy.ts";

export { PUBLIC_IMAGE_NAMESPACE };

const GROUP = "compute.cellcloud.io";
const VERSION = "v1alpha1";

/**
 * The informer keys ("namespace/name") an image reference may resolve to, in the order they are
 * looked at: a NAMESPACE/NAME exactly; a bare NAME in the referrer's namespace, then in the public catalog.
 */
export function imageKeys(ref: string, namespace: string): string[] {
  if (ref.includes("/")) return [ref];
  return namespace === PUBLIC_IMAGE_NAMESPACE ? [`${namespace}/${ref}`] : [`${namespace}/${ref}`, `${PUBLIC_IMAGE_NAMESPACE}/${ref}`];
}

/**
 * The image an object in `ctx.namespace` refers to by `ref`, if its tenant may use it; else why not,
 * naming `field`. Another tenant's image that is not shared reads as not found: a tenant learns
 * nothing of what others hold.
 */
export function usableImage(field: string, ref: string, ctx: PricingContext, get: (key: string) => ImageSpec | undefined): ImageSpec | string {
  const found = resolveImage(ref, ctx.namespace, get);
  if (found && ctx.visible({ namespace: found.key.slice(0, found.key.indexOf("/")), sharedWith: found.image.sharedWith })) return found.image;
  const where = ref.includes("/") ? "" : ` in namespace ${ctx.namespace} or the public catalog (${PUBLIC_IMAGE_NAMESPACE})`;
  return `${field}: Image "${ref}" not found${where}, or not shared with tenant "${ctx.tenant}"`;
}

/** The first of `imageKeys` that `get` finds, with its key. */
export function resolveImage<T>(ref: string, namespace: string, get: (key: string) => T | undefined): { key: string; image: T } | undefined {
  for (const key of imageKeys(ref, namespace)) {
    const image = get(key);
    if (image !== undefined) return { key, image };
  }
  return undefined;
}

/** The seed's largest instance: 256 vCPU and 512 GiB. */
const MAX_VCPUS = 256;
const MAX_MEMORY = "512Gi";

const memory = z
  .string()
  .max(16)
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
    sharedWith: z
      .array(z.string().max(63).describe("A tenant's name."))
      .max(256)
      .optional()
      .describe(`Other tenants that may boot from this image (their departments too). An image in the public image namespace (${PUBLIC_IMAGE_NAMESPACE}) is usable by every tenant; one in a tenant's namespace only by that tenant's tree and these.`)
      .meta({ "x-kubernetes-list-type": "set" }),
    source: z
      .object({
        url: z.string().max(2048).regex(/^https?:\/\/\S+$/).optional().describe("Where the image file (qcow2, raw or ISO) is downloaded from."),
        volume: z
          .object({
            name: z.string().max(253).describe("Name of a Volume in the image's own namespace."),
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
];

export const Image = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Image",
  plural: "images",
  shortNames: ["img"],
  scope: "Namespaced",
  description: `Image is a bootable disk image for ECS Instances: operating system, architecture, minimum disk and who may use it. Images in the ${PUBLIC_IMAGE_NAMESPACE} namespace are the public catalog; an image in a tenant's namespace is that tenant's own (private, or shared with the tenants in spec.sharedWith).`,
  spec: imageSpec,
  status: z.object({ ...observed }).describe("Observed state of the image."),
  printerColumns: [
    { name: "OS", type: "string", jsonPath: ".spec.os.distribution" },
    { name: "Version", type: "string", jsonPath: ".spec.os.version" },
    { name: "Arch", type: "string", jsonPath: ".spec.architecture" },
    { name: "Shared-With", type: "string", jsonPath: ".spec.sharedWith", priority: 1 },
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

const computeCatalogKinds = [Flavor, Image, KeyPair, DeploymentSet] as const;

// ==================== Instance ====================

/** Custom sizes come in steps of 2 vCPU and 4 GiB, as the seed's cloud sells them. */
const CUSTOM_VCPU_STEP = 2;
const CUSTOM_MEMORY_STEP_GI = 4;
/** Data volumes an instance may have besides its system disk, and NICs it may have. */
const MAX_DATA_VOLUMES = 15;
/** The most user data an instance boots with, in bytes (OpenStack Nova's 64 KiB). */
export const USER_DATA_MAX_BYTES = 65_536;
const MAX_NICS = 16;
/** Instance names end up in launcher pod names ("<name>-<5 chars>") and label values. */
const MAX_INSTANCE_NAME = 57;

const instanceSpec = z
  .object({
    flavor: refName("Name of the Flavor that sizes the instance. Exactly one of flavor or resources.").optional(),
    resources: z
      .object({
        vcpus: z.int().min(CUSTOM_VCPU_STEP).max(MAX_VCPUS).multipleOf(CUSTOM_VCPU_STEP)
          .describe(`Virtual CPUs, in steps of ${CUSTOM_VCPU_STEP}, at most ${MAX_VCPUS}.`),
        memory: memory.meta({
          "x-kubernetes-validations": [
            { rule: `quantity(self).compareTo(quantity('${MAX_MEMORY}')) <= 0`, message: `spec.resources.memory must not exceed ${MAX_MEMORY}` },
            { rule: `int(self.replace('Gi', '')) % ${CUSTOM_MEMORY_STEP_GI} == 0 && int(self.replace('Gi', '')) > 0`, message: `spec.resources.memory must be a positive multiple of ${CUSTOM_MEMORY_STEP_GI}Gi` },
          ],
        }),
      })
      .optional()
      .describe(`A custom size instead of a flavor: vCPUs in steps of ${CUSTOM_VCPU_STEP} and memory in steps of ${CUSTOM_MEMORY_STEP_GI}Gi. Custom sizes may grow while Running.`),
    image: imageRef("The Image the system disk is built from. Changing it rebuilds the instance: the system disk is re-imaged and the instance reboots."),
    zone: labelValue("Availability zone to run in (a Cell's zone). Empty: any zone.").optional(),
    cell: labelValue("Cell to run in. Empty: any cell (of the zone, if one is given).").optional(),
    powerState: z
      .enum(["Running", "Stopped", "Paused"])
      .default("Running")
      .describe("Desired power state. Running boots the instance; Stopped shuts it down and releases its host (disks are kept); Paused freezes it on its host."),
    restartRequestedAt: z.iso
      .datetime()
      .optional()
      .describe("Set to the current time to reboot the instance (as kubectl rollout restart does); each new value reboots it once."),
    terminationGracePeriodSeconds: z
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe("How long a stop, reboot or delete waits for the guest to shut down before cutting power. 0 forces it at once."),
    systemDisk: z
      .object({
        sizeGiB: z.int().min(1).max(2048).optional().describe("System disk size in GiB; at least the image's minDiskGiB, which is also the default."),
        type: refName("VolumeType of the system disk, e.g. ssd.").optional(),
      })
      .default({})
      .describe("The boot disk, created from the image."),
    dataVolumes: z
      .array(
        z.object({
          volume: refName("Name of a Volume (in the instance's namespace and zone) to attach."),
          deleteWithInstance: z.boolean().default(false).describe("Delete the volume when the instance is deleted; by default it is kept."),
        }).describe("A data volume."),
      )
      .max(MAX_DATA_VOLUMES)
      .optional()
      .describe(`Data volumes, at most ${MAX_DATA_VOLUMES} besides the system disk. Attaching or detaching one restarts the launcher (hot-plug is not simulated).`)
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["volume"] }),
    nics: z
      .array(
        z.object({
          subnet: refName("Name of the Subnet (in the instance's namespace) the NIC is attached to."),
          fixedIP: ipv4("An IPv4 address to ask for; empty: the subnet assigns one.", "spec.nics[].fixedIP").optional(),
          securityGroups: z.array(refName("Name of a SecurityGroup.")).max(5).optional().describe("Security groups applied to the NIC.")
            .meta({ "x-kubernetes-list-type": "set" }),
        }).describe("A network interface."),
      )
      .max(MAX_NICS)
      .optional()
      .describe(`Network interfaces, at most ${MAX_NICS}. The first is the primary. Each gets an address of its subnet (its fixedIP if given) held by an IPAllocation, and a MAC; adding, removing or moving a NIC restarts the launcher.`),
    keyPair: refName("Name of a KeyPair in the instance's namespace whose public key is injected into the guest.").optional(),
    userData: z
      .object({
        secretName: refName("Name of a Secret in the instance's namespace holding cloud-init user data."),
        key: z.string().min(1).max(253).default("userdata").describe("Key in the Secret."),
      })
      .optional()
      .describe(`Cloud-init user data, by reference: CellCloud never copies it. The Secret and key must exist and hold at most ${USER_DATA_MAX_BYTES} bytes (OpenStack's limit) before the instance boots; Ready=False says why not.`),
    deploymentSet: refName("Name of a DeploymentSet in the instance's namespace; its members are spread over hosts, racks or switches.").optional(),
    priority: z
      .enum(["Low", "Normal", "High"])
      .default("Normal")
      .describe("HA priority: after a host failure higher-priority instances are placed first and may preempt lower-priority ones."),
    migration: z
      .object({
        requestedAt: z.iso.datetime().describe("Set to the current time to request a migration; each new value migrates once."),
        targetNode: z.string().min(1).max(253).optional().describe("Host to move to; empty: any other suitable host."),
      })
      .optional()
      .describe("A migration request. The instance moves to another host (cold migration: it restarts there); status.migration records it."),
    billing: z
      .object({
        mode: z.enum(["PayAsYouGo", "Subscription"]).default("PayAsYouGo").describe("How the instance is charged."),
        periodMonths: z.int().min(1).max(36).optional().describe("Subscription period in months."),
        autoRenew: z.boolean().default(false).describe("Whether a subscription renews itself."),
      })
      .optional()
      .describe("Billing terms as the order recorded them. Charging follows billing.cellcloud.io: the instance is metered pay-as-you-go, and a Subscription object (kind Instance, this name) buys periods of it."),
    deletionPolicy: deletionPolicy("the launcher Pod (with the running VM) and the data volumes marked deleteWithInstance"),
  })
  .describe("Desired state of the instance.");

const instanceValidations: CelValidation[] = [
  { rule: "has(self.flavor) != has(self.resources)", message: "spec must set exactly one of flavor or resources", fieldPath: ".flavor" },
  // an orphaned VM would keep running with addresses CellCloud no longer holds for it (and would hand out again)
  {
    rule: "!has(self.deletionPolicy) || self.deletionPolicy != 'Orphan' || !has(self.nics) || size(self.nics) == 0",
    message: "spec.deletionPolicy Orphan is not allowed for an instance with NICs: its addresses would be handed out again while the VM runs", fieldPath: ".deletionPolicy",
  },
  { rule: "!has(self.cell) || has(self.zone)", message: "spec.zone is required when spec.cell is set", fieldPath: ".zone" },
  {
    rule: "!has(self.billing) || self.billing.mode != 'Subscription' || has(self.billing.periodMonths)",
    message: "spec.billing.periodMonths is required for a Subscription", fieldPath: ".billing.periodMonths",
  },
  {
    rule: "!has(self.billing) || self.billing.mode == 'Subscription' || !self.billing.autoRenew",
    message: "spec.billing.autoRenew applies to a Subscription only; a PayAsYouGo instance has nothing to renew", fieldPath: ".billing.autoRenew",
  },
];

export const instancePowerStates = ["Pending", "Starting", "Running", "Paused", "Stopping", "Stopped", "Rebooting", "Rebuilding", "Migrating"] as const;

const instanceStatus = z
  .object({
    ...observed,
    powerState: z.enum(instancePowerStates).optional().describe("What the instance is doing now."),
    nodeName: z.string().optional().describe("Host the instance runs on; empty while stopped."),
    cell: z.string().optional().describe("Cell of that host."),
    zone: z.string().optional().describe("Zone of that host."),
    architecture: z.string().optional().describe("CPU architecture it runs on, from its image."),
    vcpus: z.int().min(0).optional().describe("vCPUs it runs with now."),
    memory: z.string().optional().describe("Memory it runs with now."),
    launcherPod: z.string().optional().describe("Name of the launcher Pod that runs the instance."),
    lastBootTime: z.iso.datetime().optional().describe("When the instance last booted."),
    migration: z
      .object({
        requestedAt: z.iso.datetime().describe("The request this record is for (spec.migration.requestedAt)."),
        sourceNode: z.string().optional().describe("Host it left."),
        targetNode: z.string().optional().describe("Host it arrived on."),
        startTime: z.iso.datetime().optional().describe("When the migration started."),
        completionTime: z.iso.datetime().optional().describe("When it was running on the new host."),
        durationSeconds: z.int().min(0).optional().describe("completionTime - startTime, in seconds."),
        state: z.enum(["Running", "Succeeded", "Failed"]).describe("Running, Succeeded or Failed."),
        message: z.string().optional().describe("Why it failed, if it did."),
      })
      .optional()
      .describe("The latest migration."),
    failovers: count("How often the instance was restarted on another host after its host failed."),
    nics: z
      .array(z.object({
        subnet: z.string().describe("The NIC's Subnet."),
        vpc: z.string().optional().describe("The Subnet's VPC."),
        ip: z.string().optional().describe("The NIC's address, shown only once its IPAllocation exists; empty while one is being allocated."),
        prefixLength: z.int().min(0).max(128).optional().describe("The subnet's prefix length."),
        gateway: z.string().optional().describe("The subnet's gateway."),
        mac: z.string().optional().describe("The NIC's MAC address."),
      }).describe("A NIC as realized."))
      .max(MAX_NICS)
      .optional()
      .describe("The NICs, in spec.nics order, with the addresses they hold."),
  })
  .describe("Observed state of the instance.");

export const Instance = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Instance",
  plural: "instances",
  shortNames: ["ecs"],
  scope: "Namespaced",
  description:
    "Instance is an ECS virtual machine: a flavor (or custom size) and an image, run by one launcher Pod that the cell scheduler places on an x86 or ARM host. Stop, start, pause, reboot, resize, rebuild and migrate it by editing its spec.",
  spec: instanceSpec,
  status: instanceStatus,
  printerColumns: [
    { name: "Power", type: "string", jsonPath: ".status.powerState" },
    { name: "Flavor", type: "string", jsonPath: ".spec.flavor" },
    { name: "Image", type: "string", jsonPath: ".spec.image", priority: 1 },
    { name: "Arch", type: "string", jsonPath: ".status.architecture" },
    { name: "Node", type: "string", jsonPath: ".status.nodeName" },
    { name: "Zone", type: "string", jsonPath: ".status.zone", priority: 1 },
    { name: "IP", type: "string", jsonPath: ".status.nics[0].ip", priority: 1, description: "The primary NIC's address." },
  ],
  validations: instanceValidations,
  objectValidations: [nameAtMost(MAX_INSTANCE_NAME, "it names the launcher pod and label values"), nameIsDNSLabel("it is the VM's hostname")],
});

export type InstanceSpec = z.output<typeof instanceSpec>;
export type InstanceStatus = z.output<typeof instanceStatus>;

export const computeKinds = [...computeCatalogKinds, Instance] as const;

// ==================== Contracts ====================

export const FlavorRef = refOf(Flavor);
export const ImageRef = refOf(Image);
export const KeyPairRef = refOf(KeyPair);
export const DeploymentSetRef = refOf(DeploymentSet);
export const InstanceRef = refOf(Instance);

export type InstanceObj = KubeObject & { spec: InstanceSpec; status?: InstanceStatus };

/** The instance controller's finalizer: the launcher is gone (and deleteWithInstance volumes with it) before the instance. */
export const INSTANCE_FINALIZER = "compute.cellcloud.io/launcher";

/** Labels and annotations on launcher pods. */
export const launcher = {
  /** The instance's name, on every launcher pod (its controller, and storage, find its pods by it). */
  instanceLabel: "compute.cellcloud.io/instance",
  /** What the pod was booted for: a new value of any of these needs a new pod. */
  image: "compute.cellcloud.io/image",
  restart: "compute.cellcloud.io/restart-requested-at",
  migration: "compute.cellcloud.io/migration-requested-at",
  /** Set while the instance is paused (its vCPUs frozen; it keeps its host). */
  paused: "compute.cellcloud.io/paused",
  keyPair: "compute.cellcloud.io/key-fingerprint",
  container: "compute",
  /** The launcher's container image. KWOK does not run it; a real cluster runs a VMM in it, as KubeVirt's virt-launcher. */
  containerImage: "registry.k8s.io/pause:3.10",
  /** The NICs' addresses, as a Multus network-selection list a CNI reads: [{name, namespace, interface, ips, mac, gateway}]. */
  networks: "k8s.v1.cni.cncf.io/networks",
  /** One label per VPC a NIC is in (vpc.network.cellcloud.io/<vpc>) and per security group (sg.network.cellcloud.io/<group>). */
  vpcLabelPrefix: "vpc.network.cellcloud.io/",
  securityGroupLabelPrefix: "sg.network.cellcloud.io/",
} as const;

/**
 * The launcher pod's name: the instance's name plus a hash of what a boot is for (image, reboot and
 * migration requests, data volumes). A new request gives a new name, so the old pod is replaced
 * exactly once, and after a crash the controller still knows which pod is current.
 */
export function launcherName(inst: { metadata: { name: string }; spec: InstanceSpec }): string {
  const s = inst.spec;
  const volumes = (s.dataVolumes ?? []).map((d) => d.volume);
  const boot: unknown[] = [s.image, s.restartRequestedAt ?? "", s.migration?.requestedAt ?? ""];
  if (volumes.length) boot.push(volumes); // attach/detach restarts the launcher (pods cannot hot-plug)
  // a NIC added, removed or moved restarts it too (its CNI reads the addresses once, at pod creation)
  if (s.nics?.length) boot.push(s.nics.map((n) => [n.subnet, n.fixedIP ?? ""]));
  const h = createHash("sha256").update(JSON.stringify(boot)).digest();
  return `${inst.metadata.name}-${h.readUInt32BE(0).toString(36).padStart(7, "0").slice(-5)}`;
}
