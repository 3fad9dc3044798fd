{{/*
Certificates that bootstrap themselves (docs/certificates.md): the orchestrator keeps its CA in
a Secret, publishes the CA certificate in a ConfigMap, serves agents with a certificate for its
replicas' names, and signs the agents' CertificateSigningRequests (signer mec.dev/edge-agent);
each agent asks for its certificate as its pod's ServiceAccount.
*/}}
{{- define "mec-orchestrator.caConfigMap" -}}
{{- printf "%s-agents-ca" (include "mec-orchestrator.fullname" .) -}}
{{- end -}}

{{/* The names agents reach the orchestrator replicas by: each replica's, and the Service's. */}}
{{- define "mec-orchestrator.servingNames" -}}
{{- $sts := printf "%s-orchestrator" (include "mec-orchestrator.fullname" .) -}}
{{- $peers := include "mec-orchestrator.peersService" . -}}
{{- $names := list (printf "%s.%s.svc" $peers .Release.Namespace) -}}
{{- range $i := until (int .Values.orchestrator.replicas) -}}
{{- $names = append $names (printf "%s-%d.%s.%s.svc" $sts $i $peers $.Release.Namespace) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{- define "mec-orchestrator.orchestratorCertificateEnv" -}}
- name: MEC_OPERATOR_CERTIFICATES_BOOTSTRAP
  value: "true"
- name: MEC_OPERATOR_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: MEC_OPERATOR_CA_SECRET
  value: {{ include "mec-orchestrator.caSecret" . | quote }}
- name: MEC_OPERATOR_CA_CONFIGMAP
  value: {{ include "mec-orchestrator.caConfigMap" . | quote }}
- name: MEC_OPERATOR_SERVING_DNS_NAMES
  value: {{ include "mec-orchestrator.servingNames" . | quote }}
- name: MEC_OPERATOR_SERVING_IP_ADDRESSES
  value: "127.0.0.1"
- name: MEC_OPERATOR_CERTIFICATES_DIR
  value: /tmp/certificates
- name: MEC_OPERATOR_AGENT_SERVICE_ACCOUNT
  value: {{ include "mec-orchestrator.agentServiceAccount" . | quote }}
- name: MEC_OPERATOR_AGENT_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: MEC_OPERATOR_AGENT_CERTIFICATE_MAX_SECONDS
  value: {{ .Values.certificates.agentCertificateMaxSeconds | int | quote }}
{{- end -}}

{{- define "mec-orchestrator.agentCertificateEnv" -}}
- name: MEC_AGENT_BOOTSTRAP_CERTIFICATE
  value: "true"
- name: MEC_AGENT_CA_CONFIGMAP
  value: {{ include "mec-orchestrator.caConfigMap" . | quote }}
- name: MEC_AGENT_CA_NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- end -}}
