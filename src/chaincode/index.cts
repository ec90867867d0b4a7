/**
 * Entry point of the Cairn anchor chaincode package. fabric-shim's bootstrap
 * (`fabric-chaincode-node start` or `server`) requires the package's `main`
 * and registers the contract classes listed in `contracts`.
 */
import anchorContract = require('./anchor-contract.cjs');

const chaincode = { contracts: [anchorContract.CairnAnchorContract] };
export = chaincode;
