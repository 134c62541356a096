{{/*
Names are fixed: the operator is a cluster singleton (one KataConfig per cluster, cluster-scoped
RBAC), so a second release fails on the existing ClusterRole instead of running a second operator.
*/}}
{{- define "kata-operator.name" -}}kata-operator{{- end -}}

{{- define "kata-operator.labels" -}}
app.kubernetes.io/name: kata-operator
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kata-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{- define "kata-operator.selectorLabels" -}}
app.kubernetes.io/name: kata-operator
app.kubernetes.io/component: operator
{{- end -}}

{{/* repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "kata-operator.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}

{{- define "kata-operator.operatorImage" -}}
{{- include "kata-operator.image" (dict "repository" .Values.image.repository "tag" .Values.image.tag "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "kata-operator.installerImage" -}}
{{- include "kata-operator.image" (dict "repository" .Values.installer.image.repository "tag" .Values.installer.image.tag "appVersion" .Chart.AppVersion) -}}
{{- end -}}
