// placeholder: filled in by the change that builds it
