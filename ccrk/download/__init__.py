"""Image download: URL lists -> bounded fetches -> verified images in shards, with a manifest row per URL."""
