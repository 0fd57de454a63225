import { Alert, Button, Card, Center, FileButton, Group, PasswordInput, Stack, Tabs, Text, Textarea, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { CSRF } from "../api.ts";

export interface Who { user: string; groups: string[]; namespaces: string[] }

export function SignIn({ onSignedIn }: { onSignedIn: (w: Who) => void }) {
  const [mode, setMode] = useState<string | null>("token");
  const [token, setToken] = useState("");
  const [kubeconfig, setKubeconfig] = useState("");
  const [namespaces, setNamespaces] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const ns = namespaces.split(/[\s,]+/).filter(Boolean);
    const body = mode === "token" ? { token: token.trim(), namespaces: ns } : { kubeconfig, namespaces: ns };
    try {
      const res = await fetch("/console/login", { method: "POST", headers: { ...CSRF, "content-type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
      const answer = (await res.json()) as Who & { message?: string };
      if (!res.ok) setError(answer.message ?? `sign-in failed (${res.status})`);
      else onSignedIn(answer);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh">
      <Card withBorder shadow="sm" w={520} p="lg">
        <form onSubmit={submit} aria-label="Sign in">
          <Stack>
            <Title order={2}>Sign in to CellCloud</Title>
            <Text size="sm" c="dimmed">Every call is made to the Kubernetes API as you: you see and do what your roles allow.</Text>
            <Tabs value={mode} onChange={setMode}>
              <Tabs.List>
                <Tabs.Tab value="token">Token</Tabs.Tab>
                <Tabs.Tab value="kubeconfig">Kubeconfig</Tabs.Tab>
              </Tabs.List>
              <Tabs.Panel value="token" pt="sm">
                <PasswordInput label="Bearer token" description="e.g. kubectl create token NAME -n NAMESPACE" value={token} onChange={(e) => setToken(e.currentTarget.value)} required={mode === "token"} autoFocus />
              </Tabs.Panel>
              <Tabs.Panel value="kubeconfig" pt="sm">
                <Stack gap="xs">
                  <Textarea label="Kubeconfig" description="Its current context's user: a token or embedded client certificate. The console uses its own apiserver address, not the file's." autosize minRows={4} maxRows={10} value={kubeconfig} onChange={(e) => setKubeconfig(e.currentTarget.value)} required={mode === "kubeconfig"} styles={{ input: { fontFamily: "monospace", fontSize: 12 } }} />
                  <Group>
                    <FileButton onChange={(f) => f?.text().then(setKubeconfig)} accept="*/*">
                      {(props) => <Button variant="default" size="xs" {...props}>Load a file…</Button>}
                    </FileButton>
                  </Group>
                </Stack>
              </Tabs.Panel>
            </Tabs>
            <TextInput label="Namespaces" description="Your tenant's namespaces, comma separated (a kubeconfig context's namespace is added)" value={namespaces} onChange={(e) => setNamespaces(e.currentTarget.value)} />
            {error && <Alert color="red" title="Sign-in failed" role="alert">{error}</Alert>}
            <Button type="submit" loading={busy}>Sign in</Button>
          </Stack>
        </form>
      </Card>
    </Center>
  );
}
