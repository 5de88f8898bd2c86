"""Pure protocol knowledge (SPF terms, DKIM key records): parsing without any I/O."""
