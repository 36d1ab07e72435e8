//! OVHcloud API client: endpoints, request signing, clock offset, typed models, classified errors, retries and rate limiting.
