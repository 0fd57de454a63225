// MQ as the composition root sees it: the MQInstance, MQTopic and MQUser controllers (sharing one
// set of broker clients); MQInstances charged against quota (one in mqinstances, plus every broker's
// vCPUs and memory in the instance's zone; their volumes are charged as volumes); the webhook for
// rules across objects (a topic's replication factor against its instance's brokers, a user's engine);
// and what billing meters once it exists (broker-hours by flavor, stopped by spec.suspended).
import { meter } from "../api/billing.ts";
import { bytes } from "../api/quantity.ts";
import { MQ_FINALIZER, MQInstanceRef, MQTopicRef, MQUserRef, type MQInstanceObj, type MQTopicObj, type MQUserObj } from "../api/messaging.ts";
import { allow, deny, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Product } from "../runtime/product.ts";
import { BrokerClients } from "./brokers.ts";
import { brokerSize } from "./mq-plan.ts";
import { setupMQInstanceController } from "./mq-controller.ts";
import { setupMQTopicController } from "./mq-topic.ts";
import { setupMQUserController } from "./mq-user.ts";

const PATH = "/messaging/validate";
const shared = new WeakMap<Manager, BrokerClients>();
const clientsOf = (mgr: Manager) => { let c = shared.get(mgr); if (!c) shared.set(mgr, (c = new BrokerClients(mgr.client))); return c; };

export const messaging: Product = {
  name: "messaging",
  controllers: {
    mqinstance: (mgr, ctx) => setupMQInstanceController(mgr, ctx, clientsOf(mgr)),
    mqtopic: (mgr, ctx) => setupMQTopicController(mgr, ctx, clientsOf(mgr)),
    mquser: (mgr, ctx) => setupMQUserController(mgr, ctx, clientsOf(mgr)),
  },
  charged() {
    return [{
      ref: MQInstanceRef,
      finalizer: MQ_FINALIZER,
      price: (obj, ctx) => {
        const mq = obj as MQInstanceObj;
        const size = brokerSize(mq);
        const n = mq.spec.brokers;
        return { charge: { tenant: ctx.tenant, zone: mq.spec.zone, amounts: { mqinstances: 1, cpu: n * size.cpu * 1000, memory: n * bytes(size.memory) } } };
      },
    }];
  },
  billable() {
    return [{
      ref: MQInstanceRef,
      meters: (obj) => {
        const mq = obj as MQInstanceObj;
        return mq.spec.suspended ? [] : [meter("mq", "mq.node-hour", mq.spec.brokers, { zone: mq.spec.zone, variant: mq.spec.flavor ?? "1C2G" })];
      },
      stop: { spec: { suspended: true } },
      resume: { spec: { suspended: false } },
    }];
  },
  webhooks(mgr, server) {
    const mqs = mgr.informer<MQInstanceObj>(MQInstanceRef);
    server.register(PATH, "validating", [{
      name: "references.messaging.cellcloud.io", sideEffects: "None",
      rules: [{ apiGroups: [MQTopicRef.group], apiVersions: ["*"], resources: [MQTopicRef.plural, MQUserRef.plural], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }],
    }], (req) => validate(req));

    /** A topic or user names an instance of the right engine; a topic's replicas fit its brokers. */
    function validate(req: AdmissionRequest): AdmissionResponse {
      const obj = req.object as (MQTopicObj | MQUserObj) | undefined;
      const instance = obj?.spec?.instance;
      if (!obj || !instance || !req.namespace) return allow(req);
      const refuse = (message: string) => deny(req, 422, "Invalid", message);
      const mq = mqs.get(`${req.namespace}/${instance}`);
      // applied together with its instance (kubectl apply -k, GitOps), a topic may come first: the
      // controller waits for the instance (Ready=False, InstanceNotFound) instead
      if (!mq) return allow(req);
      if (obj.kind === "MQTopic") {
        const t = obj as MQTopicObj;
        if (mq.spec.engine !== "kafka") return refuse(`spec.instance: MQInstance ${instance} runs ${mq.spec.engine}; topics are for kafka instances`);
        if (t.spec.replicationFactor > mq.spec.brokers) return refuse(`spec.replicationFactor: ${t.spec.replicationFactor} is more than the ${mq.spec.brokers} brokers of MQInstance ${instance}`);
        return allow(req);
      }
      const u = obj as MQUserObj;
      if (mq.spec.engine === "kafka" && u.spec.permissions) return refuse(`spec.permissions: MQInstance ${instance} runs kafka; give a kafka user spec.acls`);
      if (mq.spec.engine !== "kafka" && u.spec.acls) return refuse(`spec.acls: MQInstance ${instance} runs ${mq.spec.engine}; give it spec.permissions`);
      return allow(req);
    }
  },
};
