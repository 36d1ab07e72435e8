{{/* Chart name. */}}
{{- define "karpenter-ovhcloud.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name. */}}
{{- define "karpenter-ovhcloud.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "karpenter-ovhcloud.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "karpenter-ovhcloud.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: karpenter-ovhcloud
{{- end }}

{{/* Labels selecting the controller pods; the guide's `kubectl logs -l` uses the name label. */}}
{{- define "karpenter-ovhcloud.selectorLabels" -}}
app.kubernetes.io/name: {{ include "karpenter-ovhcloud.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "karpenter-ovhcloud.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "karpenter-ovhcloud.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "karpenter-ovhcloud.leaseName" -}}
{{- default (printf "%s-leader" (include "karpenter-ovhcloud.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "karpenter-ovhcloud.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
A policy ConfigMap. Arguments: root context, name, world, base64 component, config, and
default (false: loaded for the NodePools that name it with the karpenter.ovhcloud.sh/policy
annotation, but not made the world's active policy).
*/}}
{{- define "karpenter-ovhcloud.policyConfigMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "karpenter-ovhcloud.labels" .root | nindent 4 }}
    karpenter.ovhcloud.sh/policy: {{ .world }}
  {{- if not .default }}
  annotations:
    karpenter.ovhcloud.sh/policy-default: "false"
  {{- end }}
{{- with .config }}
data:
  config.json: {{ toJson . | quote }}
{{- end }}
binaryData:
  policy.wasm: {{ .wasm | nospace }}
{{- end }}
