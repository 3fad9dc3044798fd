"""Pure decisions: latency matrix, nearest-host choice, mobility policy, handover plans. No I/O."""
