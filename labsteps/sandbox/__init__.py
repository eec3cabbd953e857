"""Lab hosts made of the kernel features the talk teaches: namespaces, mounts, cgroups."""
