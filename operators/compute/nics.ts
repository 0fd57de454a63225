// An instance's NICs (pure): each wants an address of its subnet (its fixedIP if given) held by an
// IPAllocation, planned by the runtime's IPAM; the instance boots once every NIC holds one, and its
// status shows an address only after the allocation was created. The launcher pod carries them in a
// Multus-style annotation a CNI reads, and one label per VPC and security group for NetworkPolicies.
import { launcher, type InstanceObj, type InstanceStatus } from "../api/compute.ts";
import { defaultGroupName, vpcScope, type SecurityGroupObj, type SubnetObj } from "../api/network.ts";
import type { Outcome } from "../runtime/actions.ts";
import { isTrue } from "../runtime/conditions.ts";
import {
  canonicalIP, fixedIPProblem, macFor, planAddresses, prefixLength, subnetGateway, subnetSpace,
  type AddressObservation, type AddressPlan, type AddressWant, type SlotState,
} from "../runtime/ipam.ts";
import type { Action } from "../runtime/managed.ts";
import type { Problem } from "./instance.ts";

export type NicStatus = NonNullable<InstanceStatus["nics"]>[number];

/** A NIC as the launcher gets it. */
export interface NicAddress {
  interface: string;
  subnet: string;
  vpc: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  securityGroups: string[];
}

export interface NicObservation extends Omit<AddressObservation, "shown"> {
  subnet(name: string): SubnetObj | undefined;
  /** A SecurityGroup of the instance's namespace. */
  group(name: string): SecurityGroupObj | undefined;
}

export interface NicPlan {
  /** Allocations to create, before the status write. */
  creates: Action[];
  /** Allocations to release, after the status write (runtime IPAM: never one status shows). */
  releases: Action[];
  /** What each release action (by allocation name) gives up: its subnet and address. */
  releasing: ReadonlyMap<string, { subnet?: string; address: string }>;
  /** Whether an allocation is being attempted: the instance looks again soon. */
  allocating: boolean;
  /** Once the actions ran: every NIC's status, and what keeps the instance from booting, if anything. */
  result(outcomes: readonly Outcome[]): { nics: NicStatus[] | undefined; addresses: NicAddress[]; problem?: Problem };
}

const slot = (i: number) => `nic-${i}`;
// a subnet being deleted hands out nothing more (its finalizer may go as soon as it holds nothing)
const isReady = (s: SubnetObj) => !s.metadata.deletionTimestamp && isTrue(s.status?.conditions, "Ready");

export function planNics(inst: InstanceObj, o: NicObservation, random: number): NicPlan {
  const nics = inst.spec.nics ?? [];
  const ns = inst.metadata.namespace ?? "";
  const owner = { kind: "Instance", namespace: ns, name: inst.metadata.name, uid: inst.metadata.uid ?? "" };
  const wants: AddressWant[] = [];
  const problems = new Map<number, Problem>();
  const keep = new Set<string>();
  // a NIC's groups are checked but do not hold up its address: the instance just does not boot yet
  const groupProblems = new Map<number, Problem>();
  const groupsOf = new Map<number, string[]>();
  for (const [i, nic] of nics.entries()) {
    const field = `spec.nics[${i}]`;
    const s = o.subnet(nic.subnet);
    const fixed = nic.fixedIP === undefined ? undefined : canonicalIP(nic.fixedIP);
    const why = !s
      ? { reason: "SubnetNotFound", message: `${field}.subnet: Subnet "${nic.subnet}" not found in this namespace`, stalled: false }
      : !isReady(s)
        ? { reason: "SubnetNotReady", message: `${field}.subnet: Subnet "${nic.subnet}" is not ready: ${s.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "not yet reconciled"}`, stalled: false }
        : fixed !== undefined && fixedIPProblem(s.spec, fixed, `${field}.fixedIP`);
    if (why) {
      problems.set(i, typeof why === "string" ? { reason: "InvalidFixedIP", message: why, stalled: true } : why);
      keep.add(slot(i)); // a subnet briefly unready does not cost the NIC its address
      continue;
    }
    const vpc = s!.spec.vpc;
    const groups = nic.securityGroups?.length ? [...nic.securityGroups] : [defaultGroupName(vpc)];
    groupsOf.set(i, groups);
    for (const name of groups) {
      const g = o.group(name);
      const what = nic.securityGroups?.length ? `${field}.securityGroups: SecurityGroup "${name}"` : `${field}: VPC ${vpc}'s default SecurityGroup "${name}"`;
      if (!g) groupProblems.set(i, { reason: "SecurityGroupNotFound", message: `${what} not found in this namespace`, stalled: false });
      else if (g.spec.vpc !== vpc) groupProblems.set(i, { reason: "SecurityGroupMismatch", message: `${what} is in VPC ${g.spec.vpc}, but Subnet "${nic.subnet}" is in VPC ${vpc}`, stalled: true });
    }
    wants.push({ slot: slot(i), scope: vpcScope(ns, s!.spec.vpc), space: subnetSpace(s!.spec), ...(fixed ? { fixed } : {}), record: { subnet: nic.subnet }, field, from: `Subnet ${nic.subnet}` });
  }
  const shown: AddressObservation["shown"] = Object.fromEntries((inst.status?.nics ?? []).flatMap((n, i) => (n.ip && n.vpc ? [[slot(i), { scope: vpcScope(ns, n.vpc), address: n.ip }]] : [])));
  const plan: AddressPlan = planAddresses(owner, wants, { ...o, shown }, random, macFor, keep);
  return {
    creates: plan.creates,
    releases: plan.releases,
    releasing: new Map(o.held.map((a) => [a.metadata.name, { subnet: a.spec.subnet, address: a.spec.address }])),
    allocating: plan.allocating,
    result(outcomes) {
      if (!nics.length) return { nics: undefined, addresses: [] };
      const states = new Map<string, SlotState>(plan.slots(outcomes).map((s) => [s.slot, s]));
      const status: NicStatus[] = [];
      const addresses: NicAddress[] = [];
      let problem: Problem | undefined;
      for (const [i, nic] of nics.entries()) {
        const s = o.subnet(nic.subnet);
        const state = states.get(slot(i));
        const before = inst.status?.nics?.[i];
        const address = state?.state === "held" ? state.address : state?.address ?? (problems.has(i) && before?.subnet === nic.subnet ? before.ip : undefined);
        problem ??= problems.get(i) ?? groupProblems.get(i) ?? (state?.state === "problem" ? { reason: state.reason, message: state.message, stalled: state.stalled, recheckMs: 30_000 } : undefined);
        if (!s || address === undefined) {
          status.push({ subnet: nic.subnet, ...(s ? { vpc: s.spec.vpc } : {}) });
          continue;
        }
        const entry = { subnet: nic.subnet, vpc: s.spec.vpc, ip: address, prefixLength: prefixLength(s.spec.cidrBlock), gateway: subnetGateway(s.spec), mac: macFor(address) };
        status.push(entry);
        addresses.push({ interface: `eth${i}`, ...entry, securityGroups: groupsOf.get(i) ?? [] });
      }
      return { nics: status, addresses, ...(problem ? { problem } : {}) };
    },
  };
}

/** The launcher's annotation and labels for its NICs. */
export function nicMetadata(ns: string, addresses: readonly NicAddress[]): { annotations: Record<string, string>; labels: Record<string, string> } {
  if (!addresses.length) return { annotations: {}, labels: {} };
  const networks = addresses.map((a) => ({ name: a.subnet, namespace: ns, interface: a.interface, ips: [`${a.ip}/${a.prefixLength}`], mac: a.mac, gateway: [a.gateway] }));
  const labels: Record<string, string> = {};
  for (const a of addresses) {
    labels[`${launcher.vpcLabelPrefix}${a.vpc}`] = "";
    for (const g of a.securityGroups) labels[`${launcher.securityGroupLabelPrefix}${g}`] = "";
  }
  return { annotations: { [launcher.networks]: JSON.stringify(networks) }, labels };
}
