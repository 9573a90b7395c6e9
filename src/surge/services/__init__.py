"""The composition root: builds each service's app from the domain and mounts its doors."""
