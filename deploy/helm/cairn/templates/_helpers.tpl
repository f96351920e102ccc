{{/* Names, labels and the pieces every cairn pod shares. */}}

{{- define "cairn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: the release name alone when it already says "cairn". */}}
{{- define "cairn.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "cairn.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cairn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cairn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cairn.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cairn.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cairn
{{- end -}}

{{- define "cairn.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Environment every cairn container gets. Kubernetes' service links are turned off in
the pod specs: a Service called cairn... would otherwise inject CAIRN_..._SERVICE_HOST
and CAIRN_..._PORT, which cairn reads as (unknown) configuration keys and refuses.
*/}}
{{- define "cairn.storeEnv" -}}
- name: CAIRN_CONFIG
  value: /etc/cairn/cairn.toml
- name: CAIRN_STORE__BACKEND
  value: postgres
- name: CAIRN_STORE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secret.name }}
      key: {{ .Values.secret.storeUrlKey }}
{{- end -}}

{{- define "cairn.masterKeyEnv" -}}
- name: CAIRN_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secret.name }}
      key: {{ .Values.secret.masterKeyKey }}
{{- end -}}

{{/* The models volume: a claim, or an emptyDir filled by the entrypoint. */}}
{{- define "cairn.modelsVolume" -}}
- name: models
{{- if .Values.models.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.models.existingClaim }}
    readOnly: {{ .Values.models.readOnly }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.models.sizeLimit }}
{{- end }}
{{- end -}}

{{/* Volumes of every cairn pod: the configuration, local state, scratch space. */}}
{{- define "cairn.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "cairn.fullname" . }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataDir.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "cairn.commonMounts" -}}
- name: config
  mountPath: /etc/cairn
  readOnly: true
- name: data
  mountPath: /var/lib/cairn
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "cairn.modelsMount" -}}
- name: models
  mountPath: /models
{{- if and .Values.models.existingClaim .Values.models.readOnly }}
  readOnly: true
{{- end }}
{{- end -}}
