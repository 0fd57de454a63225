// Orders waiting for a tenant admin: objects the tenancy webhook marked approval-required that no
// one has approved yet. Approving sets the approved-by annotation; the webhook lets only holders of
// the `approve` verb do it, so anyone else sees the apiserver's refusal.
import { Button, Stack, Table, Text, Title } from "@mantine/core";
import { useState } from "react";
import { ApiError, mergePatch, useWatchList, type KubeObject } from "../api.ts";
import { APPROVAL_REQUIRED, APPROVED_BY, KINDS, type Kind } from "../resources.ts";
import { ErrorAlert } from "./ResourceList.tsx";

const APPROVABLE = KINDS.filter((k) => k.approvable);

export const waiting = (o: KubeObject) => o.metadata.annotations?.[APPROVAL_REQUIRED] === "true" && !o.metadata.annotations?.[APPROVED_BY];

export function Approvals({ namespace, user }: { namespace: string; user: string }) {
  const [error, setError] = useState<ApiError>();
  return (
    <Stack>
      <Title order={2}>Approvals</Title>
      <Text size="sm" c="dimmed">Orders in {namespace} waiting for a tenant admin.</Text>
      <ErrorAlert error={error} title="Approval refused" />
      <Table aria-label="Orders waiting for approval">
        <Table.Thead><Table.Tr><Table.Th>Kind</Table.Th><Table.Th>Name</Table.Th><Table.Th>Requested</Table.Th><Table.Th /></Table.Tr></Table.Thead>
        <Table.Tbody>
          {APPROVABLE.map((k) => <Waiting key={k.plural} kind={k} namespace={namespace} user={user} onError={setError} />)}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

function Waiting({ kind, namespace, user, onError }: { kind: Kind; namespace: string; user: string; onError: (e?: ApiError) => void }) {
  // metadata is enough: the table format carries annotations without the objects' specs
  const list = useWatchList(kind, namespace, "", true);
  return (
    <>
      {list.items.filter(waiting).map((o) => (
        <Table.Tr key={o.metadata.name}>
          <Table.Td>{kind.kind}</Table.Td>
          <Table.Td>{o.metadata.name}</Table.Td>
          <Table.Td>{o.metadata.creationTimestamp}</Table.Td>
          <Table.Td>
            <Button size="xs" aria-label={`Approve ${kind.kind} ${o.metadata.name}`}
              onClick={() => { onError(undefined); mergePatch(kind, o.metadata.name, namespace, { metadata: { annotations: { [APPROVED_BY]: user } } }).catch(onError); }}>
              Approve
            </Button>
          </Table.Td>
        </Table.Tr>
      ))}
      {list.error && list.error.code !== 404 && <Table.Tr><Table.Td colSpan={4}><ErrorAlert error={list.error} /></Table.Td></Table.Tr>}
    </>
  );
}
