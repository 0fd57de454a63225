// ECS as the composition root sees it: the catalog and instance controllers, and Instances charged
// against quota (priced from the catalog caches), with the launcher finalizer added at admission.
import { FlavorRef, ImageRef, INSTANCE_FINALIZER, InstanceRef, resolveImage, type FlavorSpec, type ImageSpec, type InstanceObj } from "../api/compute.ts";
import { VolumeRef, type VolumeObj } from "../api/storage.ts";
import type { Product } from "../runtime/product.ts";
import type { KubeObject } from "../runtime/types.ts";
import { setupCatalogControllers } from "./catalog-controller.ts";
import { setupInstanceController } from "./instance-controller.ts";
import { instanceCharge, instanceMeters } from "./pricing.ts";

export const compute: Product = {
  name: "compute",
  controllers: {
    "compute-catalog": (mgr) => setupCatalogControllers(mgr),
    instance: setupInstanceController,
  },
  charged(mgr) {
    const flavors = mgr.informer<KubeObject & { spec: FlavorSpec }>(FlavorRef);
    const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
    const volumes = mgr.informer<VolumeObj>(VolumeRef);
    return [{
      ref: InstanceRef,
      finalizer: INSTANCE_FINALIZER,
      price: (obj, ctx) => instanceCharge((obj as InstanceObj).spec, ctx, {
        flavor: (n) => flavors.get(n)?.spec,
        image: (key) => images.get(key)?.spec,
        volumeZone: (n) => volumes.get(`${ctx.namespace}/${n}`)?.spec.zone,
      }),
    }];
  },
  billable(mgr) {
    const flavors = mgr.informer<KubeObject & { spec: FlavorSpec }>(FlavorRef);
    const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
    return [{
      ref: InstanceRef,
      meters: (obj) => {
        const vm = obj as InstanceObj;
        const image = resolveImage(vm.spec.image, vm.metadata.namespace ?? "", (k) => images.get(k)?.spec)?.image;
        return instanceMeters(vm, { flavor: vm.spec.flavor ? flavors.get(vm.spec.flavor)?.spec : undefined, image });
      },
      stop: { spec: { powerState: "Stopped" } },
      resume: { spec: { powerState: "Running" } },
    }];
  },
};
