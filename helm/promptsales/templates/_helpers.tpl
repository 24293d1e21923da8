{{/* Shared names, labels and pieces of the promptsales chart. */}}

{{- define "promptsales.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-wide prefix of every object name. */}}
{{- define "promptsales.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: (dict "root" $ "component" "postgresql"). */}}
{{- define "promptsales.componentName" -}}
{{- printf "%s-%s" (include "promptsales.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component (stable across upgrades). */}}
{{- define "promptsales.selectorLabels" -}}
app.kubernetes.io/name: {{ include "promptsales.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component. */}}
{{- define "promptsales.labels" -}}
{{ include "promptsales.selectorLabels" . }}
app.kubernetes.io/part-of: promptsales
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret every credential comes from. */}}
{{- define "promptsales.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- fail "existingSecret is required: create the Secret with the keys listed in values.yaml (docs/deploy.md) and pass --set existingSecret=<name>" -}}
{{- end -}}
{{- end -}}

{{/* An env var read from the chart's Secret: (dict "root" $ "name" "PGPASSWORD" "key" "postgres-password"). */}}
{{- define "promptsales.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "promptsales.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{- define "promptsales.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{- define "promptsales.projectImage" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{/* Pod security context for a non-root image: (dict "root" $ "uid" 999). */}}
{{- define "promptsales.podSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.podSecurityContext -}}
{{- $_ := set $ctx "runAsUser" (int .uid) -}}
{{- $_ := set $ctx "runAsGroup" (int .uid) -}}
{{- $_ := set $ctx "fsGroup" (int .uid) -}}
{{- $_ := set $ctx "fsGroupChangePolicy" "OnRootMismatch" -}}
{{- toYaml $ctx -}}
{{- end -}}

{{- define "promptsales.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "promptsales.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A volumeClaimTemplate named "data". */}}
{{- define "promptsales.dataClaim" -}}
volumeClaimTemplates:
  - metadata:
      name: data
      labels:
        {{- include "promptsales.selectorLabels" . | nindent 8 }}
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- with .root.Values.storageClassName }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .storage }}
{{- end -}}

{{/* Name of the backup PVC. */}}
{{- define "promptsales.backupClaim" -}}
{{- default (include "promptsales.componentName" (dict "root" . "component" "backups")) .Values.backup.existingClaim -}}
{{- end -}}

{{/* A NetworkPolicy peer for one named client (a component of this release, or "airflow"). */}}
{{- define "promptsales.clientPeer" -}}
{{- if eq .client "airflow" }}
- podSelector:
    matchLabels:
      {{- toYaml .root.Values.airflow.podLabels | nindent 6 }}
  {{- with .root.Values.airflow.namespace }}
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
  {{- end }}
{{- else }}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .root.Release.Name }}
      app.kubernetes.io/component: {{ .client }}
{{- end }}
{{- end -}}

{{/* The two Services of a store: a headless one for the StatefulSet and a ClusterIP one for clients.
     (dict "root" $ "component" "postgresql" "port" 5432 "portName" "postgresql") */}}
{{- define "promptsales.storeServices" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "promptsales.componentName" . }}-headless
  labels:
    {{- include "promptsales.labels" . | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "promptsales.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ .portName }}
      port: {{ .port }}
      targetPort: {{ .portName }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "promptsales.componentName" . }}
  labels:
    {{- include "promptsales.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "promptsales.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ .portName }}
      port: {{ .port }}
      targetPort: {{ .portName }}
{{- end -}}

{{/* A PodDisruptionBudget: (dict "root" $ "component" "redis" "minAvailable" 1). */}}
{{- define "promptsales.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "promptsales.componentName" . }}
  labels:
    {{- include "promptsales.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .minAvailable }}
  selector:
    matchLabels:
      {{- include "promptsales.selectorLabels" . | nindent 6 }}
{{- end -}}
