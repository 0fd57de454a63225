// What the three MQ controllers share: the instance's two passwords (read once per instance uid from
// its Secrets, kept in memory, never logged) and one admin client per instance.
import { credentialsSecretName, internalSecretName, MQ_KEYS, MQ_LABEL, type MQInstanceObj } from "../api/messaging.ts";
import { SecretRef } from "../runtime/core.ts";
import { isForbidden, isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import { KafkaClients, type KafkaClient } from "./kafka-admin.ts";
import { RabbitClient } from "./rabbit-admin.ts";

export const BY_INSTANCE = "byMQInstance";
/** An object's instance, by the label every owned object carries. */
export const instanceKey = (o: KubeObject) => { const n = o.metadata.labels?.[MQ_LABEL]; return n ? [`${o.metadata.namespace}/${n}`] : []; };

type SecretObj = KubeObject & { data?: Record<string, string> };

export class BrokerClients {
  private readonly client: KubeClient;
  private readonly passwords = new Map<string, { internal?: string; credentials?: string }>();
  private readonly kafkas = new KafkaClients();

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** A key of a Secret in `ns`: undefined when the Secret or key is missing; "forbidden" where the manager may not read Secrets. */
  async secretKey(name: string, ns: string, key: string): Promise<{ value?: string; version?: string } | "forbidden"> {
    try {
      const s = await this.client.get<SecretObj>(SecretRef, name, ns);
      const raw = s.data?.[key];
      return { ...(raw ? { value: Buffer.from(raw, "base64").toString("utf8") } : {}), version: `${s.metadata.uid}/${s.metadata.resourceVersion}` };
    } catch (e) {
      if (isNotFound(e)) return {};
      if (isForbidden(e)) return "forbidden";
      throw e;
    }
  }

  /** The operator's password (internal Secret) and the default user's (credentials Secret), once both exist. */
  async secrets(mq: MQInstanceObj): Promise<{ internal?: string; credentials?: string } | "forbidden"> {
    const uid = mq.metadata.uid ?? "";
    const known = this.passwords.get(uid);
    if (known?.internal && known.credentials) return known;
    const ns = mq.metadata.namespace ?? "";
    const [i, c] = await Promise.all([
      this.secretKey(internalSecretName(mq.metadata.name), ns, MQ_KEYS.operatorPassword),
      this.secretKey(credentialsSecretName(mq.metadata.name), ns, MQ_KEYS.defaultPassword),
    ]);
    if (i === "forbidden" || c === "forbidden") return "forbidden";
    const found = { ...(i.value ? { internal: i.value } : {}), ...(c.value ? { credentials: c.value } : {}) };
    if (found.internal && found.credentials) this.passwords.set(uid, found);
    return found;
  }

  kafka(mq: MQInstanceObj, hosts: readonly string[], operatorPassword: string): KafkaClient {
    return this.kafkas.get(mq.metadata.uid ?? "", hosts, operatorPassword);
  }

  rabbit(hosts: readonly string[], operatorPassword: string): RabbitClient {
    return new RabbitClient(hosts[0]!, operatorPassword);
  }

  forget(mq: MQInstanceObj): void {
    this.passwords.delete(mq.metadata.uid ?? "");
    this.kafkas.forget(mq.metadata.uid ?? "");
  }
}
