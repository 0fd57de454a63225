{{- define "cellcloud.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cellcloud.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cellcloud.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "cellcloud.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cellcloud.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The in-cluster billing PostgreSQL's StatefulSet, Service and Secret (52: a StatefulSet's
controller-revision-hash label adds 11 characters to its name). */ -}}
{{- define "cellcloud.billingDatabaseName" -}}
{{- printf "%s-billing-db" (include "cellcloud.fullname" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "cellcloud.billingDatabaseSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: billing-database
{{- end -}}

{{- /* The Secret and key holding the ledger's PostgreSQL URL: existingSecret first, else the in-cluster
database's (deployment.yaml fails when billing is on and neither is set). */ -}}
{{- define "cellcloud.billingDatabaseSecretRef" -}}
{{- $db := .Values.billing.database -}}
{{- if $db.existingSecret -}}
name: {{ $db.existingSecret }}
key: {{ $db.secretKey }}
{{- else -}}
name: {{ include "cellcloud.billingDatabaseName" . }}
key: url
{{- end -}}
{{- end -}}
