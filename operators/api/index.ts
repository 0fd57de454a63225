// The kind registry: every kind listed here gets a CRD in crds/ (see generate.ts).
import type { DefinedKind } from "./crd.ts";
import { billingKinds } from "./billing.ts";
import { computeKinds } from "./compute.ts";
import { Widget } from "./demo.ts";
import { databaseKinds } from "./database.ts";
import { messagingKinds } from "./messaging.ts";
import { networkKinds } from "./network.ts";
import { platformKinds } from "./platform.ts";
import { storageKinds } from "./storage.ts";
import { tenancyKinds } from "./tenancy.ts";

export const kinds: readonly DefinedKind[] = [Widget, ...platformKinds, ...computeKinds, ...storageKinds, ...networkKinds, ...databaseKinds, ...messagingKinds, ...tenancyKinds, ...billingKinds];
