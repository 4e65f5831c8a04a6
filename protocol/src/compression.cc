// placeholder: implemented by the protocol component
