{{/* Settings of the self-bootstrapping certificates (docs/certificates.md). */}}
{{- define "mec-orchestrator.orchestratorCertificateEnv" -}}
- name: MEC_OPERATOR_AGENTS_INSECURE
  value: "true"
{{- end -}}

{{- define "mec-orchestrator.agentCertificateEnv" -}}
- name: MEC_AGENT_INSECURE
  value: "true"
{{- end -}}
