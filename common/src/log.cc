// placeholder: implemented by the common component
