//! The product a target names in its IdentifyResponse, for reports and the summary.
//! Kept apart from discovery so that it can be read leniently and tested on its own.

use crate::eval::Answer;

/// What an IdentifyResponse says the target is: vendor and version, or whichever of
/// the two it gives. Lenient on purpose, since it only names the target in reports:
/// any namespace prefix or none (`*:`), surrounding white space trimmed, an empty
/// element taken as absent, and a version that already starts with the vendor
/// ("Touchstone mock 0.1") not repeated.
pub fn product(answer: &Answer<'_>) -> Option<String> {
    product_from(|path| answer.value(path))
}

/// [`product`] over a path lookup (`value(path)`: the text of the first element).
fn product_from(value: impl Fn(&str) -> Option<String>) -> Option<String> {
    let field = |name: &str| {
        value(&format!("*:Body/*:IdentifyResponse/*:{name}"))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    };
    match (field("ProductVendor"), field("ProductVersion")) {
        (Some(a), Some(b)) if b.to_lowercase().starts_with(&a.to_lowercase()) => Some(b),
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    /// The product of an IdentifyResponse body, read as [`super::product`] reads it.
    fn product_of(xml: &str) -> Option<String> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        super::product_from(|p| {
            let path = crate::path::Path::parse(p).ok()?;
            path.select(&doc).first().map(crate::path::text)
        })
    }

    fn identify_response(prefix: &str, ns: &str, fields: &str) -> String {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header/><s:Body>\
             <{prefix}IdentifyResponse xmlns{colon}{p}=\"{ns}\">{fields}</{prefix}IdentifyResponse>\
             </s:Body></s:Envelope>",
            colon = if prefix.is_empty() { "" } else { ":" },
            p = prefix.trim_end_matches(':'),
        )
    }

    const WSMID: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";

    #[test]
    fn vendor_and_version_alone_or_together() {
        let both = identify_response(
            "wsmid:",
            WSMID,
            "<wsmid:ProductVendor>Openwsman Project</wsmid:ProductVendor>\
             <wsmid:ProductVersion>2.7.2</wsmid:ProductVersion>",
        );
        assert_eq!(
            product_of(&both).as_deref(),
            Some("Openwsman Project 2.7.2")
        );
        let vendor = identify_response(
            "wsmid:",
            WSMID,
            "<wsmid:ProductVendor>Intel(r)</wsmid:ProductVendor>",
        );
        assert_eq!(product_of(&vendor).as_deref(), Some("Intel(r)"));
        let version = identify_response(
            "wsmid:",
            WSMID,
            "<wsmid:ProductVendor> </wsmid:ProductVendor>\
             <wsmid:ProductVersion>AMT 16.1</wsmid:ProductVersion>",
        );
        assert_eq!(product_of(&version).as_deref(), Some("AMT 16.1"));
        let neither = identify_response(
            "wsmid:",
            WSMID,
            "<wsmid:ProtocolVersion>x</wsmid:ProtocolVersion>",
        );
        assert_eq!(product_of(&neither), None);
    }

    #[test]
    fn any_prefix_or_namespace_and_white_space_are_read() {
        let other_prefix = identify_response(
            "b:",
            WSMID,
            "<b:ProductVendor>\n   Microsoft Corporation\n </b:ProductVendor>\
             <b:ProductVersion>OS: 10.0.20348 SP: 0.0 Stack: 3.0</b:ProductVersion>",
        );
        assert_eq!(
            product_of(&other_prefix).as_deref(),
            Some("Microsoft Corporation OS: 10.0.20348 SP: 0.0 Stack: 3.0")
        );
        let default_ns = identify_response(
            "",
            "urn:some-other-identity",
            "<ProductVendor>Vendor</ProductVendor><ProductVersion>1.0</ProductVersion>",
        );
        assert_eq!(product_of(&default_ns).as_deref(), Some("Vendor 1.0"));
    }

    #[test]
    fn a_version_that_names_the_vendor_is_not_repeated() {
        let xml = identify_response(
            "wsmid:",
            WSMID,
            "<wsmid:ProductVendor>Touchstone</wsmid:ProductVendor>\
             <wsmid:ProductVersion>touchstone mock 0.1</wsmid:ProductVersion>",
        );
        assert_eq!(product_of(&xml).as_deref(), Some("touchstone mock 0.1"));
    }
}
