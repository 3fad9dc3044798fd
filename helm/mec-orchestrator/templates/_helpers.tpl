{{/*
Names and labels shared by every template. The Kubernetes recommended labels
(app.kubernetes.io/*) go on every object; selectors use only the stable subset.
*/}}

{{- define "mec-orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name; component objects add a suffix (at most 63 characters in all). */}}
{{- define "mec-orchestrator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mec-orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mec-orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mec-orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mec-orchestrator.labels" -}}
helm.sh/chart: {{ include "mec-orchestrator.chart" . }}
{{ include "mec-orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mec-orchestrator
{{- end -}}

{{/* Labels of one component: (dict "context" $ "component" "orchestrator"). */}}
{{- define "mec-orchestrator.componentLabels" -}}
{{ include "mec-orchestrator.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mec-orchestrator.componentSelectorLabels" -}}
{{ include "mec-orchestrator.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mec-orchestrator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "mec-orchestrator.orchestratorServiceAccount" -}}
{{- default (printf "%s-orchestrator" (include "mec-orchestrator.fullname" .)) .Values.orchestrator.serviceAccount.name -}}
{{- end -}}

{{- define "mec-orchestrator.agentServiceAccount" -}}
{{- default (printf "%s-agent" (include "mec-orchestrator.fullname" .)) .Values.agent.serviceAccount.name -}}
{{- end -}}

{{/* The headless Service that gives each orchestrator replica a stable DNS name. */}}
{{- define "mec-orchestrator.peersService" -}}
{{- printf "%s-peers" (include "mec-orchestrator.fullname" .) -}}
{{- end -}}

{{- define "mec-orchestrator.caSecret" -}}
{{- default (printf "%s-ca" (include "mec-orchestrator.fullname" .)) .Values.certificates.caSecretName -}}
{{- end -}}

{{/*
The orchestrator replicas' agent-server addresses, one per replica (only the active one accepts
agents; an agent tries them in turn): <sts>-<i>.<peers>.<ns>.svc:<grpc port>.
*/}}
{{- define "mec-orchestrator.orchestratorAddresses" -}}
{{- $sts := printf "%s-orchestrator" (include "mec-orchestrator.fullname" .) -}}
{{- $peers := include "mec-orchestrator.peersService" . -}}
{{- $addresses := list -}}
{{- range $i := until (int .Values.orchestrator.replicas) -}}
{{- $addresses = append $addresses (printf "%s-%d.%s.%s.svc:%d" $sts $i $peers $.Release.Namespace (int $.Values.orchestrator.ports.agents)) -}}
{{- end -}}
{{- join "," $addresses -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every container of the chart. */}}
{{- define "mec-orchestrator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mec-orchestrator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
