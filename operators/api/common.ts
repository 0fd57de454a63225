// Schema pieces every API group shares: immutability, label-safe names, quantities, status basics.
import { z } from "zod";
import { conditionsSchema, observedGenerationSchema, type CelValidation } from "./crd.ts";

export const immutable = (field: string) => ({ "x-kubernetes-validations": [{ rule: "self == oldSelf", message: `${field} is immutable` }] });

/** A value that ends up in a node label (region, zone, cell name), so it must be a valid label value. */
export const labelValue = (what: string) =>
  z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).describe(what);

// resource.Quantity's own pattern, without a sign: capacities are never negative.
const QUANTITY = String.raw`^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`;

/** A positive Kubernetes quantity ("64", "500m", "256Gi") at `field`; YAML may give a bare number. */
export const quantity = (what: string, field: string) =>
  z.union([z.int(), z.string()]).describe(what).meta({
    "x-kubernetes-int-or-string": true,
    pattern: QUANTITY,
    "x-kubernetes-validations": [{
      rule: "!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",
      message: `${field} must be greater than zero`,
    }],
  });

/** metadata.name ends up in label values ("<name>-r12"), which Kubernetes limits to 63 characters. */
export const nameAtMost = (max: number, why: string): CelValidation => ({
  rule: `self.metadata.name.size() <= ${max}`, message: `metadata.name must be at most ${max} characters: ${why}`,
});

/** A summary of resources as quantity strings, as a Node's status.capacity reads. */
export const resourceList = (what: string) =>
  z
    .object({
      cpu: z.string().describe("CPU in cores, as a quantity (\"64\", \"95500m\")."),
      memory: z.string().describe("Memory as a quantity (\"256Gi\")."),
      pods: z.string().describe("Pod slots, as a quantity (\"110\")."),
    })
    .describe(what);

/** What every status has: kstatus's conditions and observedGeneration. */
export const observed = { conditions: conditionsSchema.optional(), observedGeneration: observedGenerationSchema.optional() };

/** A non-negative count in a status. */
export const count = (what: string) => z.int().min(0).optional().describe(what);

/** A DNS subdomain (as metadata.name is) and a DNS label (as a namespace's name is), unanchored. */
const SUBDOMAIN = "[a-z0-9]([-a-z0-9.]*[a-z0-9])?";
const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

/** The name of another object (a DNS subdomain, as metadata.name is). */
export const refName = (what: string) => z.string().min(1).max(253).regex(new RegExp(`^${SUBDOMAIN}$`)).describe(what);

/**
 * The public image catalog's namespace: every signed-in user may read the Images here (the chart's
 * cellcloud-image-reader binding) and every tenant may boot from them. Tenants' own images live in
 * their namespaces, where only the tenant's RBAC reads them.
 */
export const PUBLIC_IMAGE_NAMESPACE = "cellcloud-images";

/** An image reference: NAME (the referrer's namespace, then the public catalog) or NAMESPACE/NAME. */
export const imageRef = (what: string) =>
  z.string().min(1).max(317).regex(new RegExp(`^(${LABEL}/)?${SUBDOMAIN}$`))
    .describe(`${what} NAME looks in the object's own namespace, then in the public catalog (namespace ${PUBLIC_IMAGE_NAMESPACE}); NAMESPACE/NAME names an image shared by another tenant.`);

/** spec.deletionPolicy, on every kind with a realization (as Crossplane's managed resources). */
// Optional in TypeScript (objects built in code need not name it), defaulted by the apiserver.
export const deletionPolicy = (realization: string) =>
  z.enum(["Delete", "Orphan"]).optional().meta({ default: "Delete" })
    .describe(`What happens to ${realization} when this object is deleted: Delete (the default) removes it; Orphan leaves it in place, no longer owned or managed.`);

/** metadata.name must be a DNS label (no dots): it becomes a hostname or a label value. */
export const nameIsDNSLabel = (why: string): CelValidation => ({
  rule: `self.metadata.name.matches('^${LABEL}$')`, message: `metadata.name must be a DNS label (lowercase letters, digits and '-', no dots): ${why}`,
});

/** An IPv4 address, checked as an address (300.1.1.1 is refused), in CEL. */
export const ipv4 = (what: string, field: string) =>
  z.string().max(15).describe(what).meta({
    "x-kubernetes-validations": [{ rule: "isIP(self) && ip(self).family() == 4", message: `${field} must be an IPv4 address such as 10.0.0.5` }],
  });
