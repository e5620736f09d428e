// The JDK's own XML-DSig (javax.xml.crypto.dsig, Apache Santuario inside): verifies each file named on the command
// line with the certificate in its KeyInfo and prints one line per file, "valid" or "invalid" (core validation).
// A second implementation for the signature tests: run by tests/signature/test_c14n.py with `java JdkVerify.java`.
import java.io.File;
import java.security.Key;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.xml.crypto.AlgorithmMethod;
import javax.xml.crypto.KeySelector;
import javax.xml.crypto.KeySelectorException;
import javax.xml.crypto.KeySelectorResult;
import javax.xml.crypto.XMLCryptoContext;
import javax.xml.crypto.XMLStructure;
import javax.xml.crypto.dsig.XMLSignature;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMValidateContext;
import javax.xml.crypto.dsig.keyinfo.KeyInfo;
import javax.xml.crypto.dsig.keyinfo.X509Data;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

public class JdkVerify {
    static class FromKeyInfo extends KeySelector {
        public KeySelectorResult select(KeyInfo info, Purpose purpose, AlgorithmMethod method, XMLCryptoContext ctx)
                throws KeySelectorException {
            for (Object item : info.getContent()) {
                if (item instanceof X509Data) {
                    for (Object x : ((X509Data) item).getContent()) {
                        if (x instanceof X509Certificate) {
                            final Key key = ((X509Certificate) x).getPublicKey();
                            return () -> key;
                        }
                    }
                }
            }
            throw new KeySelectorException("no certificate in KeyInfo");
        }
    }

    public static void main(String[] args) throws Exception {
        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        for (String name : args) {
            Document doc = dbf.newDocumentBuilder().parse(new File(name));
            NodeList found = doc.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature");
            DOMValidateContext ctx = new DOMValidateContext(new FromKeyInfo(), found.item(0));
            XMLSignature signature = fac.unmarshalXMLSignature(ctx);
            System.out.println(signature.validate(ctx) ? "valid" : "invalid");
        }
    }
}
