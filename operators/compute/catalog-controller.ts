// Status for the ECS catalog: Flavors, Images, KeyPairs and DeploymentSets report Ready (a KeyPair
// also its fingerprint). Instances read them from the same caches.
import { DeploymentSetRef, FlavorRef, ImageRef, KeyPairRef, type DeploymentSetSpec, type FlavorSpec, type ImageSpec, type KeyPairSpec } from "../api/compute.ts";
import type { Manager } from "../runtime/manager.ts";
import { statusController } from "../runtime/status-controller.ts";
import type { KubeObject } from "../runtime/types.ts";
import { deploymentSetStatus, flavorStatus, imageStatus, keyPairStatus } from "./catalog.ts";

type With<S> = KubeObject & { spec: S };

export function setupCatalogControllers(mgr: Manager): unknown[] {
  return [
    statusController<With<FlavorSpec>>(mgr, "flavor", FlavorRef, (o) => flavorStatus(o.spec)),
    statusController<With<ImageSpec>>(mgr, "image", ImageRef, (o) => imageStatus(o.spec, o.metadata.namespace)),
    statusController<With<KeyPairSpec>>(mgr, "keypair", KeyPairRef, (o) => keyPairStatus(o.spec)),
    statusController<With<DeploymentSetSpec>>(mgr, "deploymentset", DeploymentSetRef, (o) => deploymentSetStatus(o.spec)),
  ];
}
