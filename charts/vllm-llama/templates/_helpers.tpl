{{/*
Names and labels only. Model, GPU and catalog logic lives in _model.tpl.
*/}}

{{/* Chart name: fixed, the plugin selects pods by app.kubernetes.io/name=vllm-llama. */}}
{{- define "vllm-llama.name" -}}
{{- .Chart.Name -}}
{{- end }}

{{/* Every object's name: the release name, max 63 chars. There is no
fullnameOverride: kubectl llama finds a release's Deployment and Service by
the release name. */}}
{{- define "vllm-llama.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* helm.sh/chart label value. */}}
{{- define "vllm-llama.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The image tag actually deployed. */}}
{{- define "vllm-llama.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{/* Selector labels: name + instance (immutable on the Deployment). */}}
{{- define "vllm-llama.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm-llama.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "vllm-llama.labels" -}}
{{ include "vllm-llama.selectorLabels" . }}
app.kubernetes.io/version: {{ include "vllm-llama.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: inference-server
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "vllm-llama.chart" . }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "vllm-llama.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "vllm-llama.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end }}

{{/* Name of the cache PVC (existing or created). */}}
{{- define "vllm-llama.cachePVCName" -}}
{{- .Values.cache.pvc.existingClaim | default (printf "%s-cache" (include "vllm-llama.fullname" . | trunc 57 | trimSuffix "-")) -}}
{{- end }}
