"""``observer verify``: the deployment checklist as checks (manifests, the pod, the cluster)."""
