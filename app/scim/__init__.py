"""SCIM 2.0 under /scim/v2: identity providers provision and deprovision people."""
