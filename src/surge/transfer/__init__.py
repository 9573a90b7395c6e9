"""Moving links in and out: `surge import` (Shlink, Kutt, YOURLS, Bitly, Surge's own CSV) and
`surge export`. Nothing here is imported by a running service except `baseline`."""
